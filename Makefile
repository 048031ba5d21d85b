# Two commands on a fresh machine (Linux, Python 3.11):
#   make demo   - set up the environment and run the pipeline on the bundled clip
#   make test   - set up the environment and run the whole test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Blender 5.0 (bpy 5.0.1) runs the Blender-side tests a second time: the add-on supports 4.2+ and 5.x
VENV5 := .venv-bpy5
STAMP5 := $(VENV5)/.installed
BPY_TESTS := tests/integration/test_bake.py tests/integration/test_bake_world.py tests/unit/test_retarget.py \
	tests/unit/test_build.py tests/integration/test_addon.py tests/integration/test_addon_ui.py

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 6; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

$(STAMP5): requirements-bpy5.txt
	test -x $(VENV5)/bin/python || $(PYTHON) -m venv $(VENV5)
	$(VENV5)/bin/python -m pip install -q --disable-pip-version-check -r requirements-bpy5.txt
	touch $(STAMP5)

demo: setup
	$(BIN)/posemoe demo

test: setup $(STAMP5)
	$(BIN)/python -m pytest -q
	PYTHONPATH=. $(VENV5)/bin/python -m pytest -q -p no:cacheprovider $(BPY_TESTS)

bench: setup
	$(BIN)/posemoe bench --quick

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(VENV5) dist demo_out .pytest_cache
