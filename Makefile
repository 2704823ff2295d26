# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint demo bench deploy destroy layer clean

$(STAMP): requirements-train.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install -r requirements-dev.txt
	$(BIN)/python -m pip install --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP) ## create .venv with the pinned training and test stack

test: install ## run the whole test suite (unit, integration, browser)
	$(BIN)/python -m pytest

lint: install ## ruff over everything
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: install ## the whole product locally: S3, trained model, API, page
	$(BIN)/python -m stack demo $(ARGS)

bench: install ## benchmarks; prints the table and writes bench/results/
	$(BIN)/python -m bench $(ARGS)

layer: install ## build and verify the scikit-learn layer
	$(BIN)/python -m vendor_build build
	$(BIN)/python -m vendor_build verify build/layer/sklearn-layer.zip --json build/layer/verify.json

deploy: install ## deploy to AWS: make deploy STAGE=prod
	$(BIN)/python -m stack deploy --stage $(or $(STAGE),dev) $(ARGS)

destroy: install ## tear down a stage: make destroy STAGE=prod
	$(BIN)/python -m stack destroy --stage $(or $(STAGE),dev) $(ARGS)

clean:
	rm -rf build dist .pytest_cache .ruff_cache
