"""Stand-in for pip's get-pip.py when ansible-test bootstraps its sanity virtual environments.

ansible-test creates each venv without pip and downloads get-pip.py from
ci-files.testing.ansible.com, which is not reachable here (only PyPI is). scripts/sanity.sh puts
this file where ansible-test caches that script. It does the same job: put pip into the running
interpreter (from the wheel bundled with Python's ensurepip), then `pip install` the arguments
ansible-test passes (its pinned pip version) from PyPI.
"""

import subprocess
import sys

# get-pip.py options that `pip install` does not know.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main() -> None:
    subprocess.run(
        [sys.executable, "-m", "ensurepip", "--default-pip"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", *args], check=True
    )


if __name__ == "__main__":
    main()
