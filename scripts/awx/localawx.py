"""A local AWX 24.6.1 beside the lab: start, stop and report (make awx-up / awx-down / awx-status).

Runs with the AWX venv's Python (scripts/awx/awx.sh). Everything lives in the state directory
(AWX_STATE, default <repo>/.awx): PostgreSQL's data and socket, Redis's socket, receptor's config
and socket, AWX's settings, logs, projects and job directories, the admin password, the pids of
every process started. Only 127.0.0.1 listens (AWX's API); PostgreSQL and Redis use unix sockets.

The job path is AWX's own for a VM install: dispatcher -> receptor (work type ``local``) ->
``ansible-runner worker`` -> podman with the local execution environment (``--network host``, so
jobs reach the lab's 127.x API servers).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

TOP = Path(os.environ["AWX_TOP"])
STATE = Path(os.environ["AWX_STATE"])
CACHE = Path(os.environ["AWX_CACHE"])
VENV = Path(os.environ["AWX_VENV"])
HOST_ID = "awx-local"
PORT = int(os.environ.get("AWX_PORT", "8043"))
URL = f"http://127.0.0.1:{PORT}"
ADMIN = "admin"
PASSWORD_FILE = STATE / "admin-password"
SMOKE = "awx-up smoke test"  # inventory and ad hoc command of the trivial job
# Started in this order, stopped in the reverse one.
SERVICES = ("postgres", "redis", "receptor", "dispatcher", "callback-receiver", "web")

ETC, RUN, LOG, PIDS = STATE / "etc", STATE / "run", STATE / "log", STATE / "pids"
PGDATA, PGSOCK = STATE / "pg" / "data", STATE / "pg" / "run"
REDIS_SOCK = RUN / "redis.sock"
# One projects directory per state directory (AWX names project checkouts and their caches by
# database ids, so two databases must not share one): see write_config for why not under STATE.
STATE_ID = hashlib.sha256(str(STATE).encode()).hexdigest()[:12]
PROJECTS = Path(os.environ.get("AWX_PROJECTS",
                               f"/var/lib/servicemesh-federation-awx/{STATE_ID}/projects"))
RECEPTOR_SOCK = RUN / "receptor.sock"


def log(msg: str) -> None:
    print(f"awx: {msg}", flush=True)


def fail(msg: str) -> None:
    print(f"awx: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


# --- processes -----------------------------------------------------------------------------

def pid_of(name: str) -> int | None:
    """The recorded pid of a service, when that process still runs."""
    try:
        pid = int((PIDS / f"{name}.pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start(name: str, argv: list[str], env: dict | None = None, user: str | None = None) -> None:
    if pid_of(name):
        return
    out = open(LOG / f"{name}.log", "ab")
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})}, cwd=STATE, user=user,
                            start_new_session=True)
    (PIDS / f"{name}.pid").write_text(str(proc.pid))
    log(f"started {name} (pid {proc.pid}, log {LOG / (name + '.log')})")


def stop(name: str, timeout: float = 20) -> None:
    pid = pid_of(name)
    if pid:
        # Each service runs in its own session: the group takes its workers along.
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(pid):
            time.sleep(0.2)
        if _group_alive(pid):
            os.killpg(pid, signal.SIGKILL)
        log(f"stopped {name} (pid {pid})")
    (PIDS / f"{name}.pid").unlink(missing_ok=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(what: str, check, timeout: float, name: str | None = None):
    """Poll ``check`` (cheap local probes only) until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if name and not pid_of(name):
            fail(f"{name} exited while waiting for {what}; see {LOG / (name + '.log')}")
        if time.monotonic() > deadline:
            fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


# --- PostgreSQL and Redis ------------------------------------------------------------------

def pg_bin(tool: str) -> str:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/" + tool))
    if not versions:
        fail(f"PostgreSQL's {tool} is not installed")
    return str(versions[-1])


def pg_user() -> str | None:
    """PostgreSQL refuses to run as root: then it runs as the postgres user."""
    return "postgres" if os.geteuid() == 0 else None


def start_postgres() -> None:
    user = pg_user()
    PGSOCK.mkdir(parents=True, exist_ok=True)
    if user:
        uid, gid = pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid
        os.chown(PGDATA.parent, uid, gid)
        os.chown(PGSOCK, uid, gid)
    if not (PGDATA / "PG_VERSION").exists():
        log("initdb (trust on the unix socket only; no TCP)")
        subprocess.run([pg_bin("initdb"), "-D", str(PGDATA), "-U", "awx", "--auth=trust",
                        "-E", "UTF8", "--locale=C.UTF-8"], check=True, user=user,
                       stdout=subprocess.DEVNULL, cwd="/")
    start("postgres", [pg_bin("postgres"), "-D", str(PGDATA), "-c", "listen_addresses=",
                       "-c", f"unix_socket_directories={PGSOCK}",
                       "-c", "unix_socket_permissions=0700",
                       "-c", "max_connections=200", "-c", "fsync=off"], user=user)
    psql = [pg_bin("psql"), "-h", str(PGSOCK), "-U", "awx", "-d", "postgres", "-tAc"]
    wait_for("PostgreSQL", lambda: subprocess.run(
        [*psql, "select 1"], capture_output=True, check=False).returncode == 0, 60, "postgres")
    have = subprocess.run([*psql, "select 1 from pg_database where datname='awx'"],
                          capture_output=True, text=True, check=True).stdout.strip()
    if have != "1":
        subprocess.run([*psql, "create database awx"], check=True, stdout=subprocess.DEVNULL)
        # A new database numbers its projects and updates from 1 again: checkouts and caches
        # left by an earlier one would be taken for its own (a project update skips its
        # requirements step when a cache of that id exists).
        for old in PROJECTS.iterdir():
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink()


def start_redis() -> None:
    (STATE / "redis").mkdir(exist_ok=True)
    start("redis", ["redis-server", "--port", "0", "--unixsocket", str(REDIS_SOCK),
                    "--unixsocketperm", "700", "--dir", str(STATE / "redis"), "--save", "",
                    "--appendonly", "no", "--daemonize", "no"])
    wait_for("Redis", REDIS_SOCK.exists, 30, "redis")


# --- AWX -----------------------------------------------------------------------------------

def write_config(ee_image: str, control_ee_image: str) -> None:
    for d in (ETC, RUN, LOG, PIDS, PROJECTS, STATE / "job_status", STATE / "jobs",
              STATE / "receptor", STATE / "static"):
        d.mkdir(parents=True, exist_ok=True)
    ETC.chmod(0o700)  # SECRET_KEY and settings
    key = ETC / "SECRET_KEY"
    if not key.exists():
        key.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
        key.chmod(0o600)
    (ETC / "settings.py").write_text(f'''\
# Written by scripts/awx/localawx.py for the local AWX (make awx-up); rewritten on every start.
import os
CLUSTER_HOST_ID = {HOST_ID!r}
SYSTEM_UUID = "00000000-0000-0000-0000-000000000000"
IS_K8S = False
# Only the development settings define it; the task managers read it.
AWX_DISABLE_TASK_MANAGERS = False
SECRET_KEY = open({str(key)!r}).read().strip()
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
CSRF_TRUSTED_ORIGINS = [{URL!r}]
DATABASES = {{"default": {{
    "ENGINE": "django.db.backends.postgresql", "NAME": "awx", "USER": "awx", "PASSWORD": "",
    "HOST": {str(PGSOCK)!r}, "PORT": "5432", "ATOMIC_REQUESTS": True,
    "OPTIONS": {{"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 5,
                "keepalives_count": 5}},
}}}}
BROKER_URL = "unix://{REDIS_SOCK}"
CACHES = {{"default": {{"BACKEND": "awx.main.cache.AWXRedisCache",
                       "LOCATION": "unix://{REDIS_SOCK}?db=1"}}}}
CHANNEL_LAYERS = {{"default": {{"BACKEND": "channels_redis.core.RedisChannelLayer",
    "CONFIG": {{"hosts": [BROKER_URL], "capacity": 10000, "group_expiry": 157784760}}}}}}
# AWX skips every directory whose absolute path has a dot element (skip_directory gets the full
# path), so no playbook would be found under .awx: projects live outside the dotted state dir.
PROJECTS_ROOT = {str(PROJECTS)!r}
JOBOUTPUT_ROOT = {str(STATE / "job_status")!r}
STATIC_ROOT = {str(STATE / "static")!r}
AWX_ISOLATION_BASE_PATH = {str(STATE / "jobs")!r}
LOG_AGGREGATOR_MAX_DISK_USAGE_PATH = {str(STATE)!r}
# Job containers: the host network (the lab's API servers listen on 127.x), and the repository
# read-only at its own path (the project is a git clone of file://<repo>).
DEFAULT_CONTAINER_RUN_OPTIONS = ["--network", "host"]
AWX_ISOLATION_SHOW_PATHS = [{f"{TOP}:{TOP}:ro"!r}]
GLOBAL_JOB_EXECUTION_ENVIRONMENTS = [
    {{"name": "servicemesh.federation (local)", "image": {ee_image!r}, "pull": "never"}}]
# AWX's own playbooks (project updates) run in the control-plane EE (build-control-ee.sh).
CONTROL_PLANE_EXECUTION_ENVIRONMENT = {control_ee_image!r}
# Logs into the state directory (the defaults name /var/log/tower).
LOG_ROOT = {str(LOG)!r}
for _handler in LOGGING["handlers"].values():
    if "filename" in _handler:
        _handler["filename"] = os.path.join(LOG_ROOT, os.path.basename(_handler["filename"]))
''')
    (ETC / "receptor.conf").write_text(f'''\
---
- node:
    id: {HOST_ID}
    datadir: {STATE / "receptor"}
- local-only: null
- log-level: info
- control-service:
    service: control
    filename: {RECEPTOR_SOCK}
    permissions: "0600"
- work-command:
    worktype: local
    command: ansible-runner
    params: worker
    allowruntimeparams: true
''')


def awx_env() -> dict:
    return {
        # The sources hold awx/devonly.py, which would select the development settings.
        "DJANGO_SETTINGS_MODULE": "awx.settings.production",
        "AWX_SETTINGS_FILE": str(ETC / "settings.py"),
        "AWX_SETTINGS_DIR": str(ETC / "conf.d"),
        "AWX_RECEPTOR_CONF": str(ETC / "receptor.conf"),
        "PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '')}",
        "HOME": str(STATE),
        "TMPDIR": str(STATE / "jobs"),
    }


def manage(*args: str, capture: bool = False, env: dict | None = None) -> str:
    proc = subprocess.run([str(VENV / "bin" / "awx-manage"), *args],
                          env={**os.environ, **awx_env(), **(env or {})}, cwd=STATE,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        fail(f"awx-manage {' '.join(args)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc.stdout


def provision() -> None:
    log("migrate (the first run takes minutes)")
    manage("migrate", "--noinput")
    manage("setup_managed_credential_types")
    manage("provision_instance", f"--hostname={HOST_ID}", "--node_type=hybrid")
    manage("register_queue", "--queuename=controlplane", f"--hostnames={HOST_ID}")
    manage("register_queue", "--queuename=default", f"--hostnames={HOST_ID}")
    manage("register_default_execution_environments")
    if not PASSWORD_FILE.exists():
        password = secrets.token_urlsafe(24)
        fd = os.open(PASSWORD_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
    # Create or reset the superuser; the password travels in the environment, not argv.
    manage("shell", "-c", (
        "import os\n"
        "from django.contrib.auth.models import User\n"
        f"u, _ = User.objects.get_or_create(username={ADMIN!r}, "
        "defaults={'email': 'admin@localhost'})\n"
        "u.is_superuser = u.is_staff = True\n"
        "u.set_password(os.environ['AWX_ADMIN_PASSWORD'])\n"
        "u.save()\n"),
        env={"AWX_ADMIN_PASSWORD": admin_password()})
    # The Default organization and the demo objects (they name the superuser: after it).
    stamp = STATE / ".preloaded"
    if not stamp.exists():
        manage("create_preload_data")
        stamp.touch()


def admin_password() -> str:
    return PASSWORD_FILE.read_text().strip()


def start_awx() -> None:
    env = awx_env()
    start("receptor", [str(CACHE / "bin" / "receptor"), "--config", str(ETC / "receptor.conf")],
          env=env)
    wait_for("receptor's control socket", RECEPTOR_SOCK.exists, 30, "receptor")
    start("dispatcher", [str(VENV / "bin" / "awx-manage"), "run_dispatcher"], env=env)
    start("callback-receiver", [str(VENV / "bin" / "awx-manage"), "run_callback_receiver"], env=env)
    start("web", [str(VENV / "bin" / "awx-manage"), "runserver", "--noreload", "--insecure",
                  f"127.0.0.1:{PORT}"], env=env)


# --- the API -------------------------------------------------------------------------------

def api(method: str, path: str, body: dict | None = None, auth: bool = True):
    req = urllib.request.Request(URL + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if auth:
        token = base64.b64encode(f"{ADMIN}:{admin_password()}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def ping():
    try:
        return api("GET", "/api/v2/ping/", auth=False)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def ready_instance():
    """The ping once this node reports capacity (the dispatcher's heartbeat sets it)."""
    data = ping()
    if not data:
        return None
    for inst in data.get("instances", []):
        if inst.get("node") == HOST_ID and inst.get("capacity", 0) > 0:
            return data
    return None


def get_or_create(path: str, name: str, body: dict) -> dict:
    found = api("GET", f"{path}?name={urllib.parse.quote(name)}")["results"]
    return found[0] if found else api("POST", path, {"name": name, **body})


def smoke_job() -> dict:
    """A trivial job through the whole path: an ad hoc `ping` on localhost in the EE."""
    org = api("GET", "/api/v2/organizations/?name=Default")["results"][0]
    inv = get_or_create("/api/v2/inventories/", SMOKE, {"organization": org["id"]})
    hosts = api("GET", f"/api/v2/inventories/{inv['id']}/hosts/?name=localhost")["results"]
    if not hosts:
        api("POST", f"/api/v2/inventories/{inv['id']}/hosts/",
            {"name": "localhost", "variables": "ansible_connection: local"})
    # Ad hoc commands need a machine credential (a local connection does not use it).
    ssh = api("GET", "/api/v2/credential_types/?namespace=ssh")["results"][0]
    cred = get_or_create("/api/v2/credentials/", SMOKE, {
        "organization": org["id"], "credential_type": ssh["id"], "inputs": {"username": "root"}})
    job = api("POST", f"/api/v2/inventories/{inv['id']}/ad_hoc_commands/",
              {"module_name": "ping", "limit": "localhost", "credential": cred["id"]})
    deadline = time.monotonic() + 600
    while True:
        job = api("GET", f"/api/v2/ad_hoc_commands/{job['id']}/")
        if job["finished"]:
            return job
        if time.monotonic() > deadline:
            fail(f"the smoke job {job['id']} did not finish in 600s (status {job['status']})")
        time.sleep(1)


# --- commands ------------------------------------------------------------------------------

def up(ee_image: str, control_ee_image: str) -> None:
    started = time.monotonic()
    write_config(ee_image, control_ee_image)
    start_postgres()
    start_redis()
    provision()
    start_awx()
    data = wait_for("/api/v2/ping/ to show this instance with capacity", ready_instance, 300, "web")
    inst = next(i for i in data["instances"] if i["node"] == HOST_ID)
    log(f"AWX {data.get('version')} answers at {URL}, {HOST_ID} capacity {inst['capacity']}")
    job = smoke_job()
    if job["status"] != "successful":
        stdout = f"{URL}/api/v2/ad_hoc_commands/{job['id']}/stdout/?format=txt"
        fail(f"the smoke job {job['id']} ended {job['status']}: {job.get('job_explanation')}; "
             f"see {stdout} and {LOG}")
    log(f"smoke job {job['id']} successful ({job['elapsed']}s); "
        f"up in {time.monotonic() - started:.0f}s")
    log(f"log in at {URL}/api/v2/ as {ADMIN}, password in {PASSWORD_FILE}")


def down() -> None:
    # Job containers first (podman's storage is this AWX's own: see env.sh).
    if shutil.which("podman"):
        ids = subprocess.run(["podman", "ps", "-q", "--filter", "name=ansible_runner_"],
                             capture_output=True, text=True, check=False).stdout.split()
        if ids:
            subprocess.run(["podman", "rm", "-f", *ids], capture_output=True, check=False)
            log(f"removed {len(ids)} job container(s)")
    for name in reversed(SERVICES):
        stop(name)


def status() -> int:
    running = 0
    for name in SERVICES:
        pid = pid_of(name)
        running += bool(pid)
        print(f"{name:18} {'running, pid ' + str(pid) if pid else 'stopped'}")
    data = ping()
    if data:
        caps = ", ".join(f"{i['node']} capacity {i['capacity']}" for i in data.get("instances", []))
        print(f"{'api':18} {URL}/api/v2/ AWX {data.get('version')}: {caps}")
        print(f"{'login':18} {ADMIN}, password in {PASSWORD_FILE}")
    else:
        print(f"{'api':18} not answering at {URL}")
    return 0 if data and running == len(SERVICES) else 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up")
    p_up.add_argument("--ee-image", required=True)
    p_up.add_argument("--control-ee-image", required=True)
    sub.add_parser("down")
    sub.add_parser("status")
    args = parser.parse_args()
    if args.cmd == "up":
        up(args.ee_image, args.control_ee_image)
    elif args.cmd == "down":
        down()
    else:
        sys.exit(status())


if __name__ == "__main__":
    main()
