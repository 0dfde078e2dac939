"""What `kubectl exec` answers in a lab pod (lab/exec.py), without a lab: the lab kubelet runs
`python -m lab exec <ns> <pod> <container> -- <command>` and returns its output and exit code
(end to end: test_lab_kubelet_exec.py)."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from lab import LAB_ROOT, REPO
from lab.exec import Target, parse_curl, run

TARGET = Target("red-mesh-apps", "client-1", "client")


def answer(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(TARGET, list(argv), io.StringIO(stdin), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("argv", "code", "stdout"), [
    (["echo", "hello", "world"], 0, "hello world\n"),
    (["echo", "-n", "x"], 0, "x"),
    (["/bin/true"], 0, ""),
    (["false"], 1, ""),
    (["sh", "-c", "exit 3"], 3, ""),
    (["bash", "-c", "echo 'a b'"], 0, "a b\n"),
])
def test_commands_answer_as_in_a_container(argv, code, stdout):
    assert answer(*argv)[:2] == (code, stdout)


def test_cat_copies_stdin():
    assert answer("cat", stdin="piped\n")[:2] == (0, "piped\n")


def test_a_missing_executable_fails_as_a_container_runtime_does():
    code, _out, err = answer("nslookup", "x")
    assert code == 126 and 'exec: "nslookup": executable file not found in $PATH' in err
    code, _out, err = answer("sh", "-c", "nslookup x")
    assert code == 127 and "nslookup: not found" in err


def test_a_shell_list_is_refused_not_half_run():
    code, out, err = answer("sh", "-c", "echo a; echo b")
    assert (code, out) == (2, "") and "one simple command" in err


def test_curl_fails_to_connect_until_the_probe_plugs_in():
    code, out, err = answer("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                            "http://ratings.green-mesh-imports.local:9080/")
    assert (code, out) == (7, "000")
    assert err.startswith("curl: (7) Failed to connect to ratings.green-mesh-imports.local "
                          "port 9080")
    assert answer("curl", "-s", "http://x/")[2] == ""  # -s without -S: silent


def test_curl_request_is_parsed_for_the_probe():
    request = parse_curl(["-sSm5", "-H", "Host: reviews", "--write-out=%{http_code}", "x:8080"])
    assert request.url == "http://x:8080"
    assert (request.silent, request.show_error, request.write_out) == (
        True, True, "%{http_code}")
    assert request.options == {"-m": "5", "-H": "Host: reviews", "--write-out": "%{http_code}"}
    assert parse_curl(["-s"]) is None


def test_python_m_lab_exec_returns_the_exit_code():
    proc = subprocess.run([sys.executable, "-m", "lab", "exec", *TARGET.__dict__.values(), "--",
                           "sh", "-c", "exit 5"], cwd=REPO, capture_output=True, text=True,
                          env={"PYTHONPATH": str(LAB_ROOT)}, timeout=30, check=False)
    assert proc.returncode == 5
    proc = subprocess.run([sys.executable, "-m", "lab", "exec", "ns", "pod"], cwd=REPO,
                          capture_output=True, text=True, env={"PYTHONPATH": str(LAB_ROOT)},
                          timeout=30, check=False)
    assert proc.returncode == 2 and "usage: python -m lab exec" in proc.stderr
