# servicemesh.federation: the two promises are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
LAB_DIR ?= $(CURDIR)/.lab
# Only the lab targets get LAB_DIR; the test suite chooses its own lab directory.
LAB := LAB_DIR=$(LAB_DIR) PYTHONPATH=$(CURDIR)/tests/lab $(PY) -m lab
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

MESHES ?= red-mesh green-mesh blue-mesh
# GATEWAYS=1: lab-up creates every SMCP with its federation gateways (default: a fresh install).
GATEWAYS ?=
WITH_GATEWAYS := $(if $(filter-out 0 no false,$(GATEWAYS)),--with-gateways)
# OSSM=2+3 or OSSM=3: lab-up runs the OSSM 3 side too, or only (default: OSSM 2.6 only).
OSSM ?=
WITH_OSSM := $(if $(OSSM),--ossm $(OSSM))

.DEFAULT_GOAL := help
.PHONY: help setup demo test unit lint sanity integration molecule lab-up lab-down lab-status \
	lab-fault docs build bench clean awx-up awx-down awx-status

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

setup:  ## Python environment, collections, lab binaries (idempotent)
	@bash scripts/setup.sh

demo: setup  ## start the default lab, federate it, print the matrix
	$(LAB) up --meshes "$(MESHES)" $(WITH_GATEWAYS)
	ansible-playbook -i $(LAB_DIR)/inventory.yml playbooks/federate.yml

test: setup  ## the whole suite: ruff, unit, docs, lint, sanity, lab + integration, molecule
	@bash scripts/test.sh

unit: setup  ## unit tests only
	$(PY) -m pytest tests/unit -q

lint: setup  ## ruff + ansible-lint (production profile)
	@bash scripts/lint.sh

sanity: setup  ## ansible-test sanity (in .build/ansible_collections/servicemesh/federation)
	@bash scripts/sanity.sh

integration: setup  ## lab and integration tests (one shared lab)
	$(PY) -m pytest tests/lab/tests tests/integration -q -rfEs

molecule: setup  ## the molecule scenario (create lab, converge, idempotence, verify, destroy)
	cd extensions && molecule test -s default

lab-up: setup  ## start the lab (MESHES="a b c" for another set; GATEWAYS=1: SMCPs with gateways; OSSM=2+3|3)
	$(LAB) up --meshes "$(MESHES)" $(WITH_GATEWAYS) $(WITH_OSSM)

lab-down:  ## stop the lab and remove its state
	$(LAB) down

lab-status:  ## clusters, endpoints, meshes, processes
	$(LAB) status

# e.g. make lab-fault FAULT="istiod-down red-mesh"; see tests/lab/README.md
lab-fault:  ## inject a fault: FAULT="<kind> <target> [arg]"
	$(LAB) fault $(FAULT)

# A real AWX 24.6.1 beside the lab (docs/awx.md, "Try it locally"); state in .awx, cache in
# ~/.cache/servicemesh-federation-awx. The tests in tests/awx use it when it is up.
awx-up: setup  ## install (cached) and start a local AWX; returns once a job ran green
	@bash scripts/awx/awx.sh up

awx-down:  ## stop every process awx-up started
	@bash scripts/awx/awx.sh down

awx-status:  ## the local AWX's processes, URL and login
	@bash scripts/awx/awx.sh status

docs: setup  ## regenerate docs/modules/ from the plugins' documentation
	$(PY) scripts/gen_module_docs.py

build: setup  ## build the collection tarball into .build/
	ansible-galaxy collection build --force --output-path .build

bench: setup  ## N=3 6 10 20 + kubernetes.core baseline at 10 (N="3 6" BASELINE="3"): docs/benchmark.md
	$(PY) scripts/bench.py $(if $(N),--meshes $(N)) $(if $(BASELINE),--baseline $(BASELINE))

clean: lab-down  ## stop the lab, remove build and test output
	rm -rf .build tests/output
