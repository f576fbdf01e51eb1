# Every target installs what it needs itself (make setup is a prerequisite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# PMapper, the independent IAM evaluator of tests/iam, runs on Python 3.9 only (pyenv's 3.9 unless PYTHON39 is given).
PYTHON39 ?= $(or $(firstword $(wildcard $(HOME)/.pyenv/versions/3.9.*/bin/python3.9)),python3.9)
PMAPPER_VENV := .cache/pmapper-venv
PMAPPER_STAMP := $(PMAPPER_VENV)/.installed

# The CDK CLI, pinned in package.json and package-lock.json; `make deploy` and `make diff` run it.
CDK := node_modules/.bin/cdk
CDK_STAMP := node_modules/.installed
# Extra settings for deploy and diff, e.g. CONTEXT="-c alarmEmail=ops@example.com -c spotDryRun=true".
CONTEXT ?=
# What waits for a yes on deploy: broadening (IAM or security-group widening), any-change, or never.
REQUIRE_APPROVAL ?= broadening
# Further CLI options for deploy and diff, e.g. CDK_OPTIONS="--profile prod" or "-o /tmp/cdk.out".
CDK_OPTIONS ?=

.PHONY: setup kube-bin nth-bin pmapper synth deploy diff lint typecheck test test-fast demo bench docs clean

setup: $(STAMP) $(CDK_STAMP)

$(STAMP): requirements-dev.txt requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# --no-compile: modules are compiled on first import instead, only those used (halves the install time)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-compile -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

$(CDK_STAMP): package.json package-lock.json
	npm ci --loglevel=error --no-audit --no-fund
	touch $@

# The real control plane (kube-apiserver, kube-controller-manager, kubectl, etcd, aws-iam-authenticator) built
# from the pinned Go modules in tools/, once per machine, into .cache/kube-bin/ (about 9 min cold on 2 cores,
# seconds warm).
kube-bin:
	bash tools/build-kube-bin.sh

# aws-node-termination-handler, which `make bench` runs beside our Spot handler, from the pinned module in
# tools/nth, once per machine into .cache/nth-bin/ (not needed by the tests).
nth-bin:
	bash tools/build-nth.sh

pmapper: $(PMAPPER_STAMP)

$(PMAPPER_STAMP): requirements-pmapper.txt
	test -x $(PMAPPER_VENV)/bin/python || $(PYTHON39) -m venv $(PMAPPER_VENV)
	$(PMAPPER_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-pmapper.txt
	touch $@

synth: setup
	$(BIN)/python app.py

deploy: setup
	$(CDK) deploy --all --require-approval $(REQUIRE_APPROVAL) $(CONTEXT) $(CDK_OPTIONS)

diff: setup
	$(CDK) diff $(CONTEXT) $(CDK_OPTIONS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy app.py stacks lambdas/kops_lambda kops_onboard kops_local bench

# The one gate: lint, types, then every test suite (unit, infrastructure, emulator, e2e). Modules are spread
# over up to 4 worker processes (each with its own local system); pytest's exit code 5 (no tests) fails.
# The 25 slowest tests are listed at the end, so a run shows where the suite's time goes.
test: lint typecheck kube-bin pmapper
	$(BIN)/pytest -q --numprocesses=auto --maxprocesses=4 --dist=loadscope --durations=25

test-fast: setup pmapper kube-bin
	$(BIN)/pytest -q -x -m "not e2e"

demo: setup
	$(BIN)/kops-onboard local demo

# Speed and scale figures (printed, never asserted).
bench: setup kube-bin nth-bin
	$(BIN)/python -m bench.onboarding
	$(BIN)/python -m bench.spot
	$(BIN)/python -m bench.canary
	$(BIN)/python -m bench.rotation
	$(BIN)/python -m bench.local

clean:
	rm -rf cdk.out .cache .mypy_cache .ruff_cache node_modules

# Regenerate the README's workflow diagrams and docs/execution-input.schema.json from the synthesized app.
docs: synth
	$(BIN)/python -m kops_onboard.diagram cdk.out/KopsOnboard.template.json README.md
	$(BIN)/kops-onboard schema --output text > docs/execution-input.schema.json
