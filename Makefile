# The README's two commands: `make demo` and `make test`.
# One interpreter for everything, the Lambda runtime's: CPython 3.13. .ci/find-python313 finds it
# (PATH, pyenv) or says what to install; `make install PYTHON=/path/to/python3.13` overrides.
# Looked up once, and only when a recipe needs it (a venv to make).
PYTHON ?= $(eval PYTHON := $(shell .ci/find-python313))$(PYTHON)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
IS_PY313 := import sys; sys.exit(sys.version_info[:2] != (3, 13))

# A venv made by another Python (3.11 before the move) is rebuilt, never kept: its stamp is
# out of date whatever the files' times say. $(1) is the venv folder. An empty $(PYTHON) means
# .ci/find-python313 found none and has already said what to install.
define fresh_venv
	@if ! $(1)/bin/python -c '$(IS_PY313)' 2>/dev/null; then \
	  test -n "$(PYTHON)" || exit 1; \
	  rm -rf $(1) && "$(PYTHON)" -m venv $(1) && \
	  $(1)/bin/python -c '$(IS_PY313)' || \
	  { echo "$(PYTHON) is not Python 3.13; install 3.13 or pass PYTHON=/path/to/python3.13" >&2; \
	    rm -rf $(1); exit 1; }; \
	fi
endef

.PHONY: install test test-fast lint demo bench deploy destroy layer clean checkov-env s3rver arm64-root

# checkov's pins (boto3 1.35, networkx 2.6, numpy 2.4) conflict with ours: its own venv under
# build/ (gitignored), on the same Python 3.13. tests/stack/aws/test_templates.py makes it too when
# it is missing.
CHECKOV_VENV  ?= build/checkov-venv
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

# The S3 server that checks request signatures in its own code (@20minutes/s3rver, which
# needs Node.js >= 24: npm's `node` package brings it), under build/ (gitignored), pinned by
# tests/s3rver/package-lock.json. tests/s3rver_support.py starts it from there.
S3RVER_DIR   := build/s3rver
S3RVER_STAMP := $(S3RVER_DIR)/.installed

ifneq ($(shell $(BIN)/python -c '$(IS_PY313)' 2>/dev/null && echo ok),ok)
.PHONY: $(STAMP)
endif

# Debian 13's arm64 python3.13 under build/ (gitignored), run by qemu-aarch64-static: the arm64
# layer's import test (vendor_build/emulator.py). Needs root, debootstrap and qemu-user-static
# (.ci/run installs them); made once, then reused.
ARM64_ROOT := build/arm64-root

$(STAMP): requirements-train.txt requirements-dev.txt pyproject.toml
	$(call fresh_venv,$(VENV))
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install -r requirements-dev.txt
	$(BIN)/python -m pip install --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP) ## create .venv with the pinned training and test stack

test: install checkov-env s3rver ## run the whole test suite (unit, integration, browser)
	-@$(MAKE) --no-print-directory arm64-root
	$(BIN)/python -m pytest

# The edit-test loop: what no marker in pyproject.toml calls slow, integration, e2e or external
# (unit and in-process tests, and the session's moto S3), in under 2 minutes on 2 cores. CI and
# a push run `make test`. make test-fast ARGS='tests/trainer -x' narrows it.
FAST_MARKERS := not slow and not integration and not e2e and not external
test-fast: install ## the unit and in-process tests, for the edit-test loop
	$(BIN)/python -m pytest -m "$(FAST_MARKERS)" $(ARGS)

ifneq ($(shell $(CHECKOV_VENV)/bin/python -c '$(IS_PY313)' 2>/dev/null && echo ok),ok)
.PHONY: $(CHECKOV_STAMP)
endif
$(CHECKOV_STAMP): requirements-checkov.txt
	$(call fresh_venv,$(CHECKOV_VENV))
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

checkov-env: $(CHECKOV_STAMP) ## checkov in its own venv (its pins conflict with ours)

$(S3RVER_STAMP): tests/s3rver/package.json tests/s3rver/package-lock.json
	@mkdir -p $(S3RVER_DIR)
	cp tests/s3rver/package.json tests/s3rver/package-lock.json $(S3RVER_DIR)/
	cd $(S3RVER_DIR) && npm ci --no-audit --no-fund --loglevel=error && node_modules/.bin/node \
	  -e "require('@20minutes/s3rver'); console.log('s3rver ready, node', process.version)"
	@touch $@

s3rver: $(S3RVER_STAMP) ## the signature-verifying S3 server the tests run

# `make test` goes on without it (e.g. not root): its tests then make it themselves, and fail
# under CI=true (skip elsewhere) when they cannot.
$(ARM64_ROOT)/.vendor_build-root.json:
	$(BIN)/python -c "from vendor_build.emulator import prepare_root; prepare_root()"

arm64-root: install $(ARM64_ROOT)/.vendor_build-root.json ## the emulated arm64 python3.13 for verify --arch arm64

lint: install ## ruff over everything
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: install ## the whole product locally: S3, trained model, API, page
	$(BIN)/python -m stack demo $(ARGS)

bench: install ## benchmarks; prints the table and writes bench/results/
	$(BIN)/python -m bench $(ARGS)

# make layer ARCH=arm64 (build/layer-arm64/; verified in the emulated arm64 python3.13)
ARCH       ?= x86_64
LAYER_DIR  := build/layer$(if $(filter arm64,$(ARCH)),-arm64)
layer: install $(if $(filter arm64,$(ARCH)),arm64-root) ## build and verify the scikit-learn layer: make layer [ARCH=arm64]
	$(BIN)/python -m vendor_build build --arch $(ARCH) $(LAYER_ARGS)
	$(BIN)/python -m vendor_build verify $(LAYER_DIR)/sklearn-layer.zip --arch $(ARCH) $(LAYER_ARGS) --json $(LAYER_DIR)/verify.json

deploy: install ## deploy to AWS: make deploy STAGE=prod
	$(BIN)/python -m stack deploy --stage $(or $(STAGE),dev) $(ARGS)

destroy: install ## tear down a stage: make destroy STAGE=prod
	$(BIN)/python -m stack destroy --stage $(or $(STAGE),dev) $(ARGS)

clean:
	rm -rf build dist .pytest_cache .ruff_cache
