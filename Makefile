# servicemesh.federation: the two promises are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
LAB := PYTHONPATH=$(CURDIR)/tests/lab $(PY) -m lab
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

MESHES ?= red-mesh green-mesh blue-mesh

.PHONY: setup demo test unit lint sanity integration molecule lab-up lab-down lab-status lab-fault docs bench clean

setup:  ## Python environment, collections, lab binaries (idempotent)
	bash scripts/setup.sh

demo: setup  ## start the default lab, federate it, print the matrix
	$(LAB) up --meshes "$(MESHES)"
	ansible-playbook -i .lab/inventory.yml playbooks/federate.yml

test: setup  ## the whole suite: unit, lint, sanity, lab, integration, molecule
	bash scripts/test.sh

unit: setup
	$(PY) -m pytest tests/unit -q

lint: setup
	bash scripts/lint.sh

sanity: setup
	bash scripts/sanity.sh

integration: setup
	$(PY) -m pytest tests/lab/tests tests/integration -q

molecule: setup
	cd extensions && molecule test -s default

lab-up: setup
	$(LAB) up --meshes "$(MESHES)"

lab-down:
	$(LAB) down

lab-status:
	$(LAB) status

# e.g. make lab-fault FAULT="istiod-down red-mesh"; see tests/lab/README.md
lab-fault:
	$(LAB) fault $(FAULT)

docs: setup
	$(PY) scripts/gen_module_docs.py

bench: setup
	$(PY) scripts/bench.py

clean: lab-down
	rm -rf .build tests/output
