"""What the Sail operator decides: IstioRevisions for Istios, the istiod objects of a revision,
and the status of Istio, IstioRevision and IstioCNI as Sail writes them.

Pure functions on plain dicts; sources (sail-operator at the vendored commit):
controllers/istio/istio_controller.go (revision name, version resolution, Istio status),
controllers/istiorevision/istiorevision_controller.go (Reconciled, Ready from the istiod
Deployment, DependenciesHealthy from IstioCNI on OpenShift, InUse from namespace labels),
controllers/istiocni/istiocni_controller.go (Ready from the istio-cni-node DaemonSet),
pkg/reconciler/condition.go (state = reason of the first condition not True, else Healthy),
pkg/revision/prune.go (inactive, unused revisions deleted after the grace period).
"""

from __future__ import annotations

import calendar
import copy
import time

import yaml

from lab.sail import versions

GROUP_VERSION = "sailoperator.io/v1"
HEALTHY = "Healthy"
DEFAULT_GRACE_SECONDS = 30
CNI_NAME, CNI_DAEMONSET = "default", "istio-cni-node"
REV_LABEL = "istio.io/rev"


def revision_name(istio: dict) -> str:
    spec = istio.get("spec") or {}
    if (spec.get("updateStrategy") or {}).get("type") == "RevisionBased":
        return f"{istio['metadata']['name']}-{str(spec.get('version', '')).replace('.', '-')}"
    return istio["metadata"]["name"]


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def owner(obj: dict) -> dict:
    return {"apiVersion": obj.get("apiVersion", GROUP_VERSION), "kind": obj["kind"],
            "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def desired_revision(istio: dict) -> dict:
    """The IstioRevision Sail creates for ``istio``; ValueError (Sail's message) when it cannot.

    Values: the user's, with Sail's overrides (revision, global.istioNamespace) and the
    OpenShift platform; the profiles' defaults are not expanded here.
    """
    spec = istio.get("spec") or {}
    name = istio["metadata"]["name"]
    if not spec.get("version"):
        raise ValueError("spec.version not set")
    if not spec.get("namespace"):
        raise ValueError("spec.namespace not set")
    version = versions.resolve(spec["version"], name)
    rev = revision_name(istio)
    values = _merge(spec.get("values") or {}, {
        "revision": "" if rev == "default" else rev,
        "global": {"istioNamespace": spec["namespace"], "platform": "openshift"},
    })
    return {"apiVersion": GROUP_VERSION, "kind": "IstioRevision",
            "metadata": {"name": rev, "ownerReferences": [owner(istio)]},
            "spec": {"namespace": spec["namespace"], "version": version, "values": values}}


def owned_by(obj: dict, uid: str) -> bool:
    return any(o.get("uid") == uid for o in obj["metadata"].get("ownerReferences") or [])


# --- conditions -------------------------------------------------------------------------------

def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def condition(kind: str, status: str, reason: str, message: str = "") -> dict:
    c = {"type": kind, "status": status, "reason": reason}
    if message:
        c["message"] = message
    return c


def set_conditions(old: list[dict], new: list[dict], now: str) -> list[dict]:
    """Sail's SetCondition: lastTransitionTime changes only when the status does."""
    out = [dict(c) for c in old or []]
    for c in new:
        prev = next((o for o in out if o.get("type") == c["type"]), None)
        ltt = prev.get("lastTransitionTime") if prev and prev.get("status") == c["status"] else now
        entry = {**c, "lastTransitionTime": ltt or now}
        if prev is None:
            out.append(entry)
        else:
            out[out.index(prev)] = entry
    return out


def get_condition(obj: dict | None, kind: str) -> dict:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return {k: v for k, v in c.items() if k != "lastTransitionTime"}
    return {"type": kind, "status": "Unknown"}


def derive_state(*conditions: dict) -> str:
    return next((c.get("reason", "") for c in conditions if c["status"] != "True"), HEALTHY)


# --- IstioRevision ------------------------------------------------------------------------------

def istiod_name(rev: dict) -> str:
    revision = ((rev.get("spec") or {}).get("values") or {}).get("revision") or ""
    return f"istiod-{revision}" if revision else "istiod"


def revision_status(rev: dict, *, error: str | None, istiod: dict | None, cni: dict | None,
                    in_use: bool, now: str) -> dict:
    if error:
        reconciled = condition("Reconciled", "False", "ReconcileError",
                               f"error reconciling resource: {error}")
    else:
        reconciled = condition("Reconciled", "True", "Reconciled")
    shown = (istiod or {}).get("status") or {}
    if istiod is None:
        ready = condition("Ready", "False", "IstiodNotReady", "istiod Deployment not found")
    elif not shown.get("replicas"):
        ready = condition("Ready", "False", "IstiodNotReady",
                          "istiod Deployment is scaled to zero replicas")
    elif (shown.get("readyReplicas") or 0) < shown["replicas"]:
        ready = condition("Ready", "False", "IstiodNotReady", "not all istiod pods are ready")
    else:
        ready = condition("Ready", "True", "Ready")
    if cni is None:  # on OpenShift every revision depends on the IstioCNI named default
        deps = condition("DependenciesHealthy", "False", "IstioCNINotFound",
                         "IstioCNI resource does not exist")
    elif ((cni.get("status") or {}).get("state")) != HEALTHY:
        deps = condition("DependenciesHealthy", "False", "IstioCNINotHealthy",
                         "IstioCNI resource status indicates that the component is not healthy")
    else:
        deps = condition("DependenciesHealthy", "True", "DependenciesHealthy")
    use = (condition("InUse", "True", "ReferencedByWorkloads",
                     "Referenced by at least one pod or namespace") if in_use else
           condition("InUse", "False", "NotReferenced", "Not referenced by any pod or namespace"))
    old = rev.get("status") or {}
    return {**old, "observedGeneration": rev["metadata"].get("generation", 1),
            "conditions": set_conditions(old.get("conditions"), [reconciled, ready, deps, use],
                                         now),
            "state": derive_state(reconciled, ready, deps)}


def referenced(rev_name: str, namespaces: list[dict]) -> bool:
    """InUse: a namespace labelled ``istio.io/rev=<revision>`` (the lab runs no pods yet); the
    revision named ``default`` is also selected by ``istio-injection=enabled``."""
    for ns in namespaces:
        labels = ns["metadata"].get("labels") or {}
        selected = labels.get(REV_LABEL) or (
            "default" if labels.get("istio-injection") == "enabled" else "")
        if selected == rev_name:
            return True
    return False


def prune_due(rev: dict, grace_seconds: float) -> float | None:
    """Epoch seconds at which an inactive revision may be deleted (None: keep it)."""
    use = next((c for c in (rev.get("status") or {}).get("conditions") or []
                if c.get("type") == "InUse"), None)
    if not use or use.get("status") != "False" or not use.get("lastTransitionTime"):
        return None
    since = calendar.timegm(time.strptime(use["lastTransitionTime"], "%Y-%m-%dT%H:%M:%SZ"))
    return since + grace_seconds


def grace_seconds(istio: dict) -> float:
    strategy = (istio.get("spec") or {}).get("updateStrategy") or {}
    value = strategy.get("inactiveRevisionDeletionGracePeriodSeconds")
    return float(DEFAULT_GRACE_SECONDS if value is None else max(0, value))


# --- Istio --------------------------------------------------------------------------------------

def istio_status(istio: dict, *, error: str | None, active: dict | None, owned: list[dict],
                 now: str) -> dict:
    old = istio.get("status") or {}
    status = {**old, "observedGeneration": istio["metadata"].get("generation", 1)}
    if error:
        new = [condition("Reconciled", "False", "ReconcileError", error),
               condition("Ready", "Unknown", "ReconcileError",
                         "cannot determine readiness due to reconciliation error")]
        status["state"] = "ReconcileError"
    else:
        status["activeRevisionName"] = revision_name(istio)
        if active is None:
            new = [condition(k, "False", "ActiveRevisionNotFound", "active IstioRevision not found")
                   for k in ("Reconciled", "Ready")]
            status["state"] = "ActiveRevisionNotFound"
        else:
            new = [get_condition(active, k) for k in ("Reconciled", "Ready", "DependenciesHealthy")]
            status["state"] = (active.get("status") or {}).get("state", "")
    status["conditions"] = set_conditions(old.get("conditions"), new, now)
    status["revisions"] = {
        "total": len(owned),
        "ready": sum(get_condition(r, "Ready")["status"] == "True" for r in owned),
        "inUse": sum(get_condition(r, "InUse")["status"] == "True" for r in owned),
    }
    return status


# --- IstioCNI -----------------------------------------------------------------------------------

def cni_status(cni: dict, *, error: str | None, daemonset: dict | None, now: str) -> dict:
    if error:
        reconciled = condition("Reconciled", "False", "ReconcileError",
                               f"error reconciling resource: {error}")
    else:
        reconciled = condition("Reconciled", "True", "Reconciled")
    shown = (daemonset or {}).get("status") or {}
    if daemonset is None:
        ready = condition("Ready", "False", "DaemonSetNotReady",
                          f"{CNI_DAEMONSET} DaemonSet not found")
    elif not shown.get("currentNumberScheduled"):
        ready = condition("Ready", "False", "DaemonSetNotReady",
                          f"no {CNI_DAEMONSET} pods are currently scheduled")
    elif (shown.get("numberReady") or 0) < shown["currentNumberScheduled"]:
        ready = condition("Ready", "False", "DaemonSetNotReady",
                          f"not all {CNI_DAEMONSET} pods are ready")
    else:
        ready = condition("Ready", "True", "Ready")
    old = cni.get("status") or {}
    return {**old, "observedGeneration": cni["metadata"].get("generation", 1),
            "conditions": set_conditions(old.get("conditions"), [reconciled, ready], now),
            "state": derive_state(reconciled, ready)}


def same_status(current: dict | None, desired: dict) -> bool:
    return (current or {}) == desired


# --- objects the istiod chart renders (the subset the lab keeps) -------------------------------

def istiod_objects(rev: dict) -> list[tuple[str, dict]]:
    """(collection path, object) for the istiod of ``rev``: ServiceAccount, mesh ConfigMap,
    Service and Deployment, owned by the IstioRevision (the garbage collector removes them)."""
    ns, name = rev["spec"]["namespace"], istiod_name(rev)
    values = rev["spec"].get("values") or {}
    revision = values.get("revision") or "default"
    labels = {"app": "istiod", "istio": "pilot", REV_LABEL: revision,
              "app.kubernetes.io/managed-by": "sail-operator"}
    meta = {"namespace": ns, "labels": labels, "ownerReferences": [owner(rev)]}
    cm_name = "istio" if revision == "default" else f"istio-{revision}"
    mesh = {"defaultConfig": {"discoveryAddress": f"{name}.{ns}.svc:15012"},
            **(values.get("meshConfig") or {})}
    env = [{"name": k, "value": str(v)}
           for k, v in sorted(((values.get("pilot") or {}).get("env") or {}).items())]
    deployment = {
        "metadata": {"name": name, **meta},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "istiod", REV_LABEL: revision}},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "serviceAccountName": name,
                     "containers": [{"name": "discovery",
                                     "image": f"registry.redhat.io/openshift-service-mesh/"
                                              f"istio-pilot-rhel9:{rev['spec']['version']}",
                                     "env": env}]}}},
    }
    ports = [("grpc-xds", 15010), ("https-dns", 15012), ("https-webhook", 443),
             ("http-monitoring", 15014)]
    return [
        (f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": name, **meta}}),
        (f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": cm_name, **meta},
                                                 "data": {"mesh": yaml.safe_dump(mesh)}}),
        (f"/api/v1/namespaces/{ns}/services", {
            "metadata": {"name": name, **meta},
            "spec": {"selector": {"app": "istiod", REV_LABEL: revision},
                     "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports]}}),
        (f"/apis/apps/v1/namespaces/{ns}/deployments", deployment),
    ]


def cni_daemonset(cni: dict) -> tuple[str, dict]:
    ns = cni["spec"]["namespace"]
    labels = {"k8s-app": CNI_DAEMONSET, "app.kubernetes.io/managed-by": "sail-operator"}
    return (f"/apis/apps/v1/namespaces/{ns}/daemonsets", {
        "metadata": {"name": CNI_DAEMONSET, "namespace": ns, "labels": labels,
                     "ownerReferences": [owner(cni)]},
        "spec": {"selector": {"matchLabels": {"k8s-app": CNI_DAEMONSET}},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                     {"name": "install-cni", "image": "registry.redhat.io/openshift-service-mesh/"
                                                      f"istio-cni-rhel9:{cni['spec']['version']}"}]}}}})


def daemonset_ready_status(ds: dict) -> dict:
    """One node, its pod ready (what the DaemonSet controller would show; no kubelet runs)."""
    return {"observedGeneration": ds["metadata"].get("generation", 1), "currentNumberScheduled": 1,
            "desiredNumberScheduled": 1, "numberReady": 1, "numberAvailable": 1,
            "updatedNumberScheduled": 1, "numberMisscheduled": 0}
