"""Bring the lab up (or back to health), down, and describe it."""

from __future__ import annotations

import json
import shutil
import ssl
import sys
import threading
import time
import urllib.request
from pathlib import Path

from lab import LAB_ROOT, REPO, LabError, access, bootstrap, control_plane, kubelet, ossm3
from lab import ossm3_operator as sail
from lab.ca import ensure_pki
from lab.state import (
    LabPaths,
    alive,
    free_port,
    listening_in_block,
    load_state,
    rss_mb,
    save_state,
    spawn,
    stop,
    wait_for,
    write_private,
)

# Generous: a loaded 2-core machine (several labs at once) starts an apiserver in minutes, not
# seconds; a process that dies is reported at once anyway.
APISERVER_TIMEOUT_BASE, APISERVER_TIMEOUT_PER_CLUSTER = 120.0, 15.0
BOOTSTRAP_TIMEOUT = 90.0
MESH_TIMEOUT_BASE, MESH_TIMEOUT_PER_MESH = 90.0, 10.0


def marker(paths: LabPaths) -> str:
    """Every lab process names a file under the lab dir in its arguments."""
    return f"{paths.dir}/"


def new_state(meshes: dict[str, str], ip_block: int, gateways: bool = False,
              ossm: str = "2") -> dict:
    if not 1 <= ip_block <= 253:
        raise LabError(f"--ip-block {ip_block}: must be 1-253 (second octet of 127.x addresses)")
    clusters: dict[str, dict] = {}
    for mesh, cluster in meshes.items():
        clusters.setdefault(cluster, {"meshes": []})["meshes"].append(mesh)
    # gateways: whether each SMCP starts with an ingress-/egress-<peer> pair per peer (`up
    # --with-gateways`) or as a fresh install without federation gateways (the default).
    # ossm: which service mesh runs (`up --ossm 2|2+3|3`, lab/ossm3.py).
    state = {"ip_block": ip_block, "gateways": gateways, "ossm": ossm, "etcd": {"pid": 0},
             "oauth": {"pid": 0}, "clusters": {}, "meshes": {}}
    for name, c in clusters.items():
        port, oauth_port = free_port(), free_port()
        state["clusters"][name] = {
            "port": port, "server": f"https://127.0.0.1:{port}", "pid": 0, "kcm_pid": 0,
            "oauth_port": oauth_port, "oauth_issuer": f"https://127.0.0.1:{oauth_port}",
            "admin_context": name, "automation_context": f"{name}-automation",
            "meshes": c["meshes"],
        }
    for index, (mesh, cluster) in enumerate(meshes.items(), start=1):
        state["meshes"][mesh] = {
            "cluster": cluster, "index": index, "namespace": f"{mesh}-system",
            "trust_domain": f"{mesh}.local", "pid": 0, "state_dir": "",
            "lb_prefix": f"127.{ip_block}.{index}", "pod_ip": f"127.{ip_block + 1}.{index}.1",
            "peers": [m for m in meshes if m != mesh],
        }
    return state


def _same_lab(state: dict, meshes: dict[str, str], ip_block: int) -> bool:
    have = {m: s["cluster"] for m, s in state["meshes"].items()}
    return have == meshes and list(have) == list(meshes) and state["ip_block"] == ip_block


def _secrets(paths: LabPaths) -> dict:
    return json.loads((paths.dir / "secrets.json").read_text())


def with_gateways(state: dict) -> bool:
    """Labs set up before the choice was recorded all had the gateways."""
    return state.get("gateways", True)


# `lab up` options passed on to every mesh process (`python -m lab.mesh --<name>`); the mesh's
# defaults are OSSM's resync (60 s) and the lab's fast reconnect back-off (0.5 s x1.5, cap 2 s).
MESH_OPTIONS = ("resync_seconds", "backoff_initial_seconds", "backoff_max_seconds")


def up(paths: LabPaths, meshes_spec: str, ip_block: int, gateways: bool = False,
       out=sys.stdout, mesh_options: dict | None = None, ossm: str | None = None) -> dict:
    """Start the lab, or bring a running one back to health (restart whatever died).

    ``gateways`` (``--with-gateways``): every SMCP starts with the federation gateways. A running
    lab keeps the choice it was set up with; asking for gateways on one without is refused.
    ``mesh_options`` (``--resync-seconds`` ...): recorded in state.json; given to a running lab
    with other values, its mesh processes are restarted with them.
    ``ossm`` (``--ossm 2|2+3|3``, default 2): which service mesh runs; a running lab keeps it
    (another value is refused).
    """
    started = time.monotonic()
    control_plane.check_binaries()
    meshes = access.parse_meshes(meshes_spec)
    state = load_state(paths)
    if state is not None and not _same_lab(state, meshes, ip_block):
        running = " ".join(f"{m}:{s['cluster']}" for m, s in state["meshes"].items())
        raise LabError(
            f"a different lab is already set up in {paths.dir} (meshes {running}, "
            f"ip block {state['ip_block']}); run `python -m lab down` first"
        )
    ossm = ossm3.choice(paths, state, ossm)
    if state is not None and gateways and not with_gateways(state):
        raise LabError(
            f"a different lab is already set up in {paths.dir} (without federation gateways); "
            "run `python -m lab down` first to start one --with-gateways"
        )
    if state is None:
        taken = listening_in_block(ip_block)
        if taken:
            raise LabError(
                f"--ip-block {ip_block}: {taken} is already listening (another lab uses "
                f"127.{ip_block}.* / 127.{ip_block + 1}.*); choose another --ip-block"
            )
        state = _prepare(paths, meshes, ip_block, gateways, ossm)
    tokens = _secrets(paths)
    mark = marker(paths)
    wanted = {k: float(v) for k, v in (mesh_options or {}).items() if v is not None}
    if any(state.setdefault("mesh_options", {}).get(k) != v for k, v in wanted.items()):
        state["mesh_options"].update(wanted)
        save_state(paths, state)
        for m in state["meshes"].values():  # restarted below with the new options
            if m["pid"]:
                stop(m["pid"], mark)

    if not alive(state["etcd"]["pid"], mark):
        control_plane.start_etcd(paths, state)
        save_state(paths, state)
    if not alive(state["oauth"]["pid"], mark):
        state["oauth"]["pid"] = spawn(
            [sys.executable, "-m", "lab.oauth_server", "--config", str(paths.oauth_config)],
            paths.log("oauth"), env={"PYTHONPATH": str(LAB_ROOT)}, cwd=REPO)
        save_state(paths, state)
    control_plane.wait_etcd(paths, state)

    restarted = [n for n, c in state["clusters"].items() if not alive(c["pid"], mark)]
    kubelet.ensure_certs(paths, state)  # named in the apiservers' flags
    for name in restarted:
        control_plane.start_apiserver(paths, state, name)
    save_state(paths, state)
    timeout = APISERVER_TIMEOUT_BASE + APISERVER_TIMEOUT_PER_CLUSTER * len(restarted)
    control_plane.wait_apiservers(paths, state, list(state["clusters"]), timeout)
    _wait_oauth(paths, state)
    phases = {"apiservers": time.monotonic() - started}
    for name, c in state["clusters"].items():  # needs no CRDs: start it now
        if not alive(c["kcm_pid"], mark):
            control_plane.start_kcm(paths, state, name)
    save_state(paths, state)

    # Per cluster, in parallel: CRDs, OAuth API and RBAC (on a fresh or restarted apiserver),
    # then that cluster's mesh processes, so a slow cluster does not hold back the others.
    dead = [m for m, s in state["meshes"].items()
            if ossm3.has_ossm2(state) and not alive(s["pid"], mark)]
    sails = sail.to_start(paths, state, restarted)
    errors: list[Exception] = []

    def converge(name: str) -> None:
        try:
            if name in restarted:
                ossm3.bootstrap_cluster(paths, state, name, tokens, timeout=BOOTSTRAP_TIMEOUT)
            kubelet.ensure(paths, state, name, bootstrap.admin_kube(paths, state, name, tokens))
            if name in sails:
                sail.start(paths, state, name)
            for mesh in state["clusters"][name]["meshes"]:
                if mesh in dead:
                    start_mesh(paths, state, mesh)
        except Exception as e:  # noqa: BLE001 - reported below, with the cluster named
            errors.append(LabError(f"cluster {name}: {e}"))

    threads = [threading.Thread(target=converge, args=(n,)) for n in state["clusters"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    save_state(paths, state)
    if errors:
        raise errors[0]
    phases["bootstrap"] = time.monotonic() - started - sum(phases.values())
    wait_meshes(paths, state, dead)
    sail.wait_ready(paths, state, sails)
    phases["meshes"] = time.monotonic() - started - sum(phases.values())
    # A controller-manager exits when the apiserver is not healthy in its first seconds (etcd
    # slow on a loaded machine): start it again now that every apiserver answers.
    late = [n for n, c in state["clusters"].items() if not alive(c["kcm_pid"], mark)]
    for name in late:
        control_plane.start_kcm(paths, state, name)
    if late:
        save_state(paths, state)
    print(f"lab up in {paths.dir} ({time.monotonic() - started:.1f}s: "
          + ", ".join(f"{k} {v:.1f}s" for k, v in phases.items()) + "): "
          f"{len(state['clusters'])} cluster(s), {len(state['meshes'])} mesh(es), "
          f"{'with' if with_gateways(state) else 'no'} federation gateways, "
          f"OSSM {state.get('ossm', '2')}", file=out)
    print(f"  kubeconfig: {paths.kubeconfig}\n  inventory:  {paths.inventory}", file=out)
    return state


def _prepare(paths: LabPaths, meshes: dict[str, str], ip_block: int, gateways: bool,
             ossm: str = "2") -> dict:
    """A fresh lab dir: state skeleton, PKI, identities, config files, kubeconfig, inventory."""
    for sub in ("logs", "audit", "meshes", "clusters"):
        (paths.dir / sub).mkdir(parents=True, exist_ok=True)
    state = new_state(meshes, ip_block, gateways, ossm)
    for mesh in state["meshes"]:
        state["meshes"][mesh]["state_dir"] = str(paths.mesh(mesh))
        paths.mesh(mesh).mkdir(parents=True, exist_ok=True)
    save_state(paths, state)
    ensure_pki(paths.pki)
    tokens, passwords = access.new_identities(list(state["clusters"]))
    write_private(paths.dir / "secrets.json", json.dumps(tokens, indent=2))
    write_private(paths.credentials, json.dumps(passwords, indent=2))
    access.write_cluster_files(paths, state, tokens)
    write_private(paths.oauth_config, json.dumps({
        "ca": str(paths.pki / "ca.crt"),
        "cert": str(paths.pki / "serving.crt"),
        "key": str(paths.pki / "serving.key"),
        "credentials": str(paths.credentials),
        "store": str(paths.dir / "oauth"),
        "clusters": {n: {"port": c["oauth_port"], "issuer": c["oauth_issuer"]}
                     for n, c in state["clusters"].items()},
    }, indent=2))
    access.write_kubeconfig(paths, state, tokens)
    access.write_inventory(paths, state)
    return state


def _wait_oauth(paths: LabPaths, state: dict) -> None:
    ctx = ssl.create_default_context(cafile=str(paths.pki / "ca.crt"))

    def ready():
        if not alive(state["oauth"]["pid"], marker(paths)):
            raise LabError(f"the OAuth process exited; see {paths.log('oauth')}")
        for c in state["clusters"].values():
            with urllib.request.urlopen(f"{c['oauth_issuer']}/healthz", context=ctx, timeout=2):
                pass
        return True

    wait_for("the OAuth endpoints", ready, 60, log=paths.log("oauth"))


# --- mesh processes (the program itself is lab.mesh, owned by the mesh side) -----------------

def mesh_args(paths: LabPaths, state: dict, mesh: str) -> list[str]:
    m = state["meshes"][mesh]
    return [
        sys.executable, "-m", "lab.mesh",
        "--kubeconfig", str(paths.kubeconfig),
        "--context", state["clusters"][m["cluster"]]["admin_context"],
        "--mesh", mesh, "--namespace", m["namespace"], "--trust-domain", m["trust_domain"],
        # --peers: the gateway pairs the mesh's SMCP is created with (none: a fresh install).
        "--peers", ",".join(m["peers"]) if with_gateways(state) else "",
        "--lb-prefix", m["lb_prefix"], "--pod-ip", m["pod_ip"],
        "--state-dir", m["state_dir"],
        *(arg for k, v in sorted(state.get("mesh_options", {}).items()) if k in MESH_OPTIONS
          for arg in (f"--{k.replace('_', '-')}", str(v))),
    ]


def start_mesh(paths: LabPaths, state: dict, mesh: str) -> None:
    # A ready file left by an earlier run must not count for the new process.
    (Path(state["meshes"][mesh]["state_dir"]) / "ready").unlink(missing_ok=True)
    state["meshes"][mesh]["pid"] = spawn(
        mesh_args(paths, state, mesh), paths.log(f"mesh-{mesh}"),
        env={"PYTHONPATH": str(LAB_ROOT)}, cwd=REPO)


def wait_meshes(paths: LabPaths, state: dict, meshes: list[str]) -> None:
    pending = set(meshes)

    def ready():
        for mesh in sorted(pending):
            m = state["meshes"][mesh]
            if (Path(m["state_dir"]) / "ready").exists():
                pending.discard(mesh)
            elif not alive(m["pid"], marker(paths)):
                raise LabError(f"mesh process {mesh} exited before it was ready; "
                               f"see {paths.log(f'mesh-{mesh}')}")
        return not pending

    timeout = MESH_TIMEOUT_BASE + MESH_TIMEOUT_PER_MESH * len(meshes)
    try:
        wait_for(f"mesh ready files ({', '.join(sorted(pending))})", ready, timeout)
    except LabError as e:
        tails = "".join(f"\n  {paths.log(f'mesh-{m}')}:\n    " + "\n    ".join(
            _tail(paths.log(f"mesh-{m}"), 5)) for m in sorted(pending))
        raise LabError(f"{e}{tails}") from None


def _tail(path: Path, lines: int) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


# --- down and status ------------------------------------------------------------------------

_LAB_PROGRAMS = ("etcd", "kube-apiserver", "kube-controller-manager", "lab-kubelet")
_LAB_MODULES = ("lab.oauth_server", "lab.mesh", "lab.sail")


def lab_processes(paths: LabPaths) -> list[int]:
    """Pids of lab programs whose arguments name this lab dir (found even without state.json)."""
    mark, found = marker(paths), []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        if not args or not any(mark in a for a in args):
            continue
        program = Path(args[0]).name
        module = args[2] if len(args) > 2 and args[1] == "-m" else ""
        if program in _LAB_PROGRAMS or module in _LAB_MODULES:
            found.append(int(proc.name))
    return found


def down(paths: LabPaths, out=sys.stdout) -> None:
    """Stop every lab process (meshes first, etcd last) and remove the state dir."""
    mark = marker(paths)
    state = load_state(paths) or {}
    clusters = state.get("clusters", {}).values()
    groups = [
        [m.get("pid") for m in state.get("meshes", {}).values()]
        + [c.get("sail_pid") for c in clusters],
        [c.get(k) for c in clusters for k in ("kcm_pid", "kubelet_pid")]
        + [state.get("oauth", {}).get("pid")],
        [c.get("pid") for c in clusters],
        [state.get("etcd", {}).get("pid")],
    ]
    for group in groups:  # clients before servers, each group in parallel
        threads = [threading.Thread(target=stop, args=(pid, mark)) for pid in group if pid]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for pid in lab_processes(paths):  # strays, e.g. from an interrupted `up`
        stop(pid, mark)
    left = lab_processes(paths)
    if left:
        raise LabError(f"lab processes still running after down: {left}")
    if paths.dir.exists():
        shutil.rmtree(paths.dir)
    print(f"lab in {paths.dir} is down", file=out)


def status(paths: LabPaths) -> dict:
    state = load_state(paths)
    if state is None:
        raise LabError(f"no lab in {paths.dir} (start one with `python -m lab up`)")
    mark = marker(paths)

    def proc(pid):
        return {"pid": pid, "alive": alive(pid, mark), "rss_mb": round(rss_mb(pid)) if pid else 0}

    return {
        "dir": str(paths.dir),
        "gateways": with_gateways(state),
        "ossm": state.get("ossm", "2"),
        "kubeconfig": str(paths.kubeconfig),
        "inventory": str(paths.inventory),
        "etcd": {"endpoint": f"http://127.0.0.1:{state['etcd'].get('port')}",
                 **proc(state["etcd"]["pid"])},
        "oauth": proc(state["oauth"]["pid"]),
        "clusters": {n: {"server": c["server"], "oauth_issuer": c["oauth_issuer"],
                         "contexts": [c["admin_context"], c["automation_context"]],
                         "meshes": c["meshes"],
                         "apiserver": proc(c["pid"]), "controller_manager": proc(c["kcm_pid"]),
                         "kubelet": {"node": kubelet.node_name(n),
                                     "endpoint": f"{kubelet.address(state, n)}:{kubelet.PORT}",
                                     **proc(c.get("kubelet_pid"))},
                         **sail.cluster_status(paths, state, n, proc)}
                     for n, c in state["clusters"].items()},
        "meshes": {n: {"cluster": m["cluster"], "namespace": m["namespace"],
                       "trust_domain": m["trust_domain"], "lb_prefix": m["lb_prefix"],
                       **sail.mesh_status(paths, state, n), **proc(m["pid"])}
                   for n, m in state["meshes"].items()},
    }
