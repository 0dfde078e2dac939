"""Entry point: ``python -m lab.mesh --mesh red-mesh ...`` (started by ``python -m lab up``)."""

from __future__ import annotations

import argparse
import logging
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m lab.mesh", description=__doc__)
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--context", help="admin context of the mesh's cluster")
    p.add_argument("--mesh", required=True)
    p.add_argument("--namespace", help="control plane namespace (default <mesh>-system)")
    p.add_argument("--trust-domain", help="SPIFFE trust domain (default <mesh>.local)")
    p.add_argument(
        "--peers",
        default="",
        help="comma-separated other meshes: one ingress-<peer> "
        "and egress-<peer> gateway each in the SMCP created at first start",
    )
    p.add_argument("--lb-prefix", required=True, help="ingress LB addresses are <prefix>.<k>")
    p.add_argument("--pod-ip", required=True, help="source address of outbound discovery")
    p.add_argument("--state-dir", required=True)
    p.add_argument(
        "--resync-seconds",
        type=float,
        default=60.0,
        help="service list resync and peer re-reconcile period (default OSSM's 60; "
        "changes are picked up by watch, not by the resync)",
    )
    p.add_argument("--backoff-initial-seconds", type=float, default=0.5)
    p.add_argument(
        "--backoff-max-seconds",
        type=float,
        default=2.0,
        help="cap of the watch reconnect back-off (OSSM: 60)",
    )
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    args.namespace = args.namespace or f"{args.mesh}-system"
    args.trust_domain = args.trust_domain or f"{args.mesh}.local"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s {args.mesh} %(name)s: %(message)s",
    )
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    from lab.mesh.app import Mesh  # after logging is configured

    return Mesh(args).run()


if __name__ == "__main__":
    sys.exit(main())
