# Copyright (c) servicemesh.federation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Import the kubernetes client lazily: every module run is a new Python process.

``import kubernetes`` executes ``kubernetes/__init__.py``, which imports every typed API class
and all ~700 model classes (``kubernetes.client``), and ``kubernetes.config`` imports the
Google Cloud and OAuth libraries for authentication methods the lab and most clusters never use.
The dynamic client kubernetes.core uses needs none of them. Measured (docs/benchmark.md): about
1.1 s of CPU per module run, 0.45 s with this file; with N meshes and five module tasks per
mesh that is most of a run's CPU.

Importing this module (before anything imports kubernetes) registers the four kubernetes
packages whose ``__init__`` only re-exports names (``kubernetes``, ``kubernetes.client``,
``kubernetes.client.api``, ``kubernetes.client.models``) as modules that import each re-exported
name on first use, and defers executing the Google authentication and OAuth modules until they
are used. Nothing else changes: every name resolves to the same object as before.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import re
import sys
import types

# `from kubernetes.client.models.v1_pod import V1Pod` / `from . import client` lines of an
# __init__.py: name -> module to take it from.
_REEXPORT = re.compile(r"^from ([\w.]+) import (\w+)\s*$", re.M)
_VERSION = re.compile(r"^__version__ = ['\"]([^'\"]+)['\"]", re.M)
_PACKAGES = ("", "client", "client/api", "client/models")
# Executed on first attribute use: only the authentication methods that need them touch them.
_DEFERRED = frozenset(("google.auth", "google.auth.transport.requests", "oauthlib.oauth2"))


def _reexporting_package(name: str, directory: str) -> types.ModuleType:
    init = os.path.join(directory, "__init__.py")
    with open(init, encoding="utf-8") as f:
        text = f.read()
    sources = {m.group(2): m.group(1) for m in _REEXPORT.finditer(text)
               if m.group(1) not in ("__future__", ".")}
    module = types.ModuleType(name)
    module.__path__ = [directory]
    module.__file__ = init
    module.__package__ = name
    version = _VERSION.search(text)
    if version:
        module.__version__ = version.group(1)

    def __getattr__(attr: str):  # only called for names not set yet
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr in sources:
            value = getattr(importlib.import_module(sources[attr]), attr)
        else:
            try:
                value = importlib.import_module(f"{name}.{attr}")
            except ModuleNotFoundError:
                raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None
        setattr(module, attr, value)
        return value

    module.__getattr__ = __getattr__
    return module


class _DeferredFinder(importlib.abc.MetaPathFinder):
    """Finds the _DEFERRED modules as usual, then wraps their loader in a LazyLoader."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _DEFERRED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = importlib.util.LazyLoader(spec.loader)
                return spec
        return None


def install() -> None:
    if "kubernetes" in sys.modules:
        return  # imported already (e.g. a test process): keep it as it is
    try:
        spec = importlib.util.find_spec("kubernetes")
    except (ImportError, ValueError):
        return
    if spec is None or not spec.submodule_search_locations:
        return  # not installed: the modules report the missing library as before
    root = list(spec.submodule_search_locations)[0]
    packages = {"kubernetes" + ("." + sub.replace("/", ".") if sub else ""):
                os.path.join(root, *sub.split("/")) if sub else root for sub in _PACKAGES}
    if not all(os.path.isfile(os.path.join(d, "__init__.py")) for d in packages.values()):
        return  # another layout than the one this was written for: import it normally
    for name, directory in packages.items():
        sys.modules[name] = _reexporting_package(name, directory)
    if not any(isinstance(f, _DeferredFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _DeferredFinder())


install()
