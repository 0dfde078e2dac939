"""`python -m lab up|down|status|fault|exec` (the Makefile's lab-* targets call these)."""

from __future__ import annotations

import argparse
import json
import sys

from lab import LabError, lab_dir
from lab.faults import USAGE, inject
from lab.lifecycle import down, status, up
from lab.state import LabPaths

DEFAULT_MESHES = "red-mesh green-mesh blue-mesh"


def _print_status(s: dict) -> None:
    def p(proc: dict) -> str:
        return f"pid {proc['pid']} {'alive' if proc['alive'] else 'DEAD'} {proc['rss_mb']} MB"

    print(f"lab dir    {s['dir']}\nkubeconfig {s['kubeconfig']}\ninventory  {s['inventory']}")
    print(f"gateways   {'pre-created (--with-gateways)' if s['gateways'] else 'none at start'}")
    print(f"ossm       {s['ossm']}")
    print(f"etcd       {s['etcd']['endpoint']}  {p(s['etcd'])}")
    print(f"oauth      {p(s['oauth'])}")
    print("clusters:")
    for name, c in s["clusters"].items():
        print(f"  {name}: {c['server']}  contexts {', '.join(c['contexts'])}  "
              f"meshes {', '.join(c['meshes'])}")
        print(f"    oauth issuer        {c['oauth_issuer']}")
        print(f"    kube-apiserver      {p(c['apiserver'])}")
        print(f"    controller-manager  {p(c['controller_manager'])}")
        print(f"    kubelet             {p(c['kubelet'])}  node {c['kubelet']['node']} "
              f"{c['kubelet']['endpoint']}")
        if "ossm3_operator" in c:
            sail = c["ossm3_operator"]
            print(f"    OSSM 3 operator     {p(sail)}, {'ready' if sail['ready'] else 'NOT ready'}")
    print("meshes:")
    for name, m in s["meshes"].items():
        print(f"  {name}: cluster {m['cluster']}, namespace {m['namespace']}, trust domain "
              f"{m['trust_domain']}, LB {m['lb_prefix']}.*, "
              f"{'ready' if m['ready'] else 'NOT ready'}, "
              + (f"Istio {m['istio']}" if "istio" in m else p(m)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab",
                                     description="The servicemesh.federation lab (LAB_DIR selects "
                                                 "the state dir, default <repo>/.lab).")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="start the lab (harmless on a running lab)")
    p_up.add_argument("--meshes", default=DEFAULT_MESHES,
                      help='e.g. "red-mesh green-mesh"; "mesh:cluster" shares a cluster')
    p_up.add_argument("--ip-block", type=int, default=30,
                      help="second octet of the loopback addresses (default 30)")
    p_up.add_argument("--with-gateways", action="store_true",
                      help="create every SMCP with an ingress-/egress-<peer> gateway pair per "
                           "peer (default: a fresh install without federation gateways); a "
                           "running lab keeps the choice it was started with")
    p_up.add_argument("--ossm", choices=("2", "2+3", "3"),
                      help="which service mesh runs: 2 (OSSM 2.6, the default), 2+3 (2.6 and the "
                           "OSSM 3 operator side, no Istio yet) or 3 (OSSM 3 only, an Istio per "
                           "mesh); a running lab keeps it")
    for option, what in (("resync-seconds", "resync period of every mesh (default OSSM's 60)"),
                         ("backoff-initial-seconds", "first watch reconnect delay (default 0.5)"),
                         ("backoff-max-seconds", "cap of the reconnect back-off (default 2; "
                                                 "OSSM 60)")):
        p_up.add_argument(f"--{option}", type=float, help=what + "; recorded in state.json, a "
                          "running lab's meshes restart when it changes")
    sub.add_parser("down", help="stop every lab process and remove the state dir")
    p_status = sub.add_parser("status", help="clusters, endpoints, meshes, processes")
    p_status.add_argument("--json", action="store_true")
    p_fault = sub.add_parser(
        "fault", help="inject a fault: " + "; ".join(f"{k} {v}" for k, v in USAGE.items()))
    p_fault.add_argument("kind", choices=sorted(USAGE))
    p_fault.add_argument("target")
    p_fault.add_argument("arg", nargs="?")
    p_exec = sub.add_parser(
        "exec", help="what `kubectl exec` runs in a lab pod (the lab kubelet starts it): "
                     "exec <namespace> <pod> <container> -- <command...>")
    p_exec.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.cmd == "exec":  # lab/__main__.py runs it without this module's imports
        from lab.exec import main as exec_main

        return exec_main(args.args)
    paths = LabPaths(lab_dir())
    try:
        if args.cmd == "up":
            up(paths, args.meshes, args.ip_block, gateways=args.with_gateways, ossm=args.ossm,
               mesh_options={"resync_seconds": args.resync_seconds,
                             "backoff_initial_seconds": args.backoff_initial_seconds,
                             "backoff_max_seconds": args.backoff_max_seconds})
        elif args.cmd == "down":
            down(paths)
        elif args.cmd == "status":
            s = status(paths)
            print(json.dumps(s, indent=2)) if args.json else _print_status(s)
        else:
            print(inject(paths, args.kind, args.target, args.arg))
    except LabError as e:
        print(f"lab {args.cmd}: {e}", file=sys.stderr)
        return 1
    return 0
