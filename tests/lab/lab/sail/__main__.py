"""Entry point: ``python -m lab.sail --cluster <name> ...`` (started by ``python -m lab up --ossm
2+3|3``, one per lab cluster)."""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.sail", description=__doc__)
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--context", help="admin context of the cluster")
    p.add_argument("--cluster", required=True)
    p.add_argument("--meshes", default="",
                   help="mesh=<control plane namespace>=<LB prefix>, comma-separated")
    p.add_argument("--wait-istios", default="",
                   help="Istios that must be Ready before the ready file is written")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s {args.cluster} %(name)s: %(message)s")
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    from lab.sail.app import Sail

    return Sail(args).run()


if __name__ == "__main__":
    sys.exit(main())
