"""Check each awx.awx task of extensions/awx/configure.yml against the modules' argument specs.

ansible-lint's args rule alone is not enough here: it is opt-in (not in the production profile),
reports only warnings, and drops a task's every finding when one templated value fails a type
check (so a misspelt option next to `forks: "{{ n | int }}"` passes). This check renders each task
as the play would (configure-vars.yml, play vars, loop items, `omit`), captures the argument spec
the module builds (awx.awx's ControllerAPIModule adds its connection options), validates the
arguments with ansible-core's ArgumentSpecValidator, and validates the workflow nodes (a plain
list of dicts for the module) against the suboptions the module documents. Surveys must not ask
for secrets. Nothing contacts a controller.

Run with ANSIBLE_CONFIG set and awx.awx in .collections (scripts/setup.sh). Exit 1 on findings.
"""

from __future__ import annotations

import importlib
import pathlib
import sys

import yaml
from ansible.module_utils import basic
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template

TOP = pathlib.Path(__file__).resolve().parent.parent
AWX_DIR = TOP / "extensions" / "awx"
PLAYBOOK = AWX_DIR / "configure.yml"
DOC_KEYS = ("type", "elements", "choices", "required", "aliases")
SPEC_KEYS = (
    "mutually_exclusive",
    "required_together",
    "required_one_of",
    "required_if",
    "required_by",
)


class _Captured(Exception):
    def __init__(self, kwargs):
        super().__init__("argument spec captured")
        self.kwargs = kwargs


def module_spec(fqcn: str) -> tuple[dict, dict, str]:
    """(argument_spec, the other AnsibleModule constraints, DOCUMENTATION) of a module."""
    namespace, name, module = fqcn.split(".")
    mod = importlib.import_module(
        f"ansible_collections.{namespace}.{name}.plugins.modules.{module}"
    )

    def capture(self, *args, **kwargs):
        raise _Captured(kwargs)

    original = basic.AnsibleModule.__init__
    basic.AnsibleModule.__init__ = capture
    try:
        mod.main()
    except _Captured as done:
        kwargs = done.kwargs
    else:
        raise RuntimeError(f"{fqcn}: main() never built an AnsibleModule")
    finally:
        basic.AnsibleModule.__init__ = original
    constraints = {key: kwargs[key] for key in SPEC_KEYS if kwargs.get(key)}
    return kwargs["argument_spec"], constraints, mod.DOCUMENTATION


def doc_to_spec(options: dict) -> dict:
    """Argument spec from documented options (for suboptions the module does not declare)."""
    spec = {}
    for key, doc in options.items():
        entry = {k: doc[k] for k in DOC_KEYS if k in doc}
        if entry.get("choices") and entry.get("type") in (None, "str"):
            entry["choices"] = [str(choice) for choice in entry["choices"]]
        if "suboptions" in doc:
            entry["options"] = doc_to_spec(doc["suboptions"])
        spec[key] = entry
    return spec


def validate(spec: dict, params: dict, constraints: dict | None = None) -> list[str]:
    result = ArgumentSpecValidator(spec, **(constraints or {})).validate(params)
    return [str(error) for error in result.errors]


def trusted(value):
    """Our own playbook: its strings are templates, as when ansible-playbook loads it."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {key: trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [trusted(item) for item in value]
    return value


def check_scenario(label: str, overrides: dict, specs: dict) -> list[str]:
    loader = DataLoader()
    play = loader.load_from_file(str(PLAYBOOK))[0]
    variables = {}
    for vars_file in play.get("vars_files", []):
        variables.update(yaml.safe_load((AWX_DIR / vars_file).read_text()))
    variables.update(play.get("vars", {}))
    variables.update(overrides)
    variables = trusted(variables)
    variables["playbook_dir"] = str(AWX_DIR)
    findings = []
    for task in play["tasks"]:
        action = next((key for key in task if key.startswith("awx.awx.")), None)
        if action is None:
            continue
        where = f"{label}: task '{task['name']}' ({action})"
        templar = Templar(loader=loader, variables=variables)
        when = task.get("when")
        if when is not None and not templar.template(trust_as_template(f"{{{{ ({when}) }}}}")):
            continue
        items = templar.template(trusted(task["loop"])) if "loop" in task else [None]
        if action not in specs:
            specs[action] = module_spec(action)
        spec, constraints, documentation = specs[action]
        for item in items:
            templar = Templar(loader=loader, variables={**variables, "item": item})
            params = templar.template(trusted(task[action]))
            if isinstance(item, dict):
                where = f"{label}: task '{task['name']}' ({action}, item {item.get('key')})"
            findings += [f"{where}: {error}" for error in validate(spec, params, constraints)]
            nodes = params.get("workflow_nodes") or []
            if nodes:
                doc = yaml.safe_load(documentation)["options"]["workflow_nodes"]["suboptions"]
                node_spec = doc_to_spec(doc)
                for node in nodes:
                    findings += [
                        f"{where}: workflow node {node.get('identifier')}: {error}"
                        for error in validate(node_spec, node)
                    ]
            for question in (params.get("survey_spec") or {}).get("spec", []):
                if question.get("type") == "password":
                    findings.append(
                        f"{where}: survey question {question.get('variable')} asks for a secret"
                    )
    return findings


def main() -> int:
    init_plugin_loader([str(TOP / ".collections")])
    example = AWX_DIR / "credential_types" / "federation_clusters.yml"  # any readable file
    scenarios = {
        "defaults": {},
        "every option set": {
            "awx_federation_kubeconfig_file": str(example),
            "awx_federation_passwords_credential": "Service mesh federation passwords",
            "awx_federation_passwords_file": str(example),
            "awx_federation_scm_credential": "Git",
            "awx_federation_ee_registry_credential": "Registry",
            "awx_federation_extra_vars": {"federation_report_dir": "/reports"},
        },
    }
    specs: dict = {}
    findings = []
    for label, overrides in scenarios.items():
        findings += check_scenario(label, overrides, specs)
    for finding in findings:
        print(finding)
    checked = ", ".join(sorted(specs))
    if findings:
        print(f"awx.awx arguments: {len(findings)} finding(s)")
        return 1
    print(f"awx.awx arguments: every task valid in {len(scenarios)} scenarios ({checked})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
