# The two quick-start commands: `make demo` (the main job) and `make test`.
# Each creates the virtual environment .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WORKDIR ?= runs/yang2023_cpu_$(shell date +%Y%m%d_%H%M%S)
# `make reproduce`: the four experiments at the cpu scale, then one report over them.
EXPERIMENTS := yang2023 acharyya2021 wolfe2021 bartoldson2020
REPRODUCE_DIR ?= runs/reproduce_$(shell date +%Y%m%d_%H%M%S)
comma := ,
empty :=
space := $(empty) $(empty)

.PHONY: demo reproduce test lint clean

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/activate

demo: $(BIN)/activate
	$(BIN)/python -m launch.sweep --config=launch/configs/yang2023.py:cpu --workdir=$(WORKDIR)

reproduce: $(BIN)/activate
	for experiment in $(EXPERIMENTS); do \
	  $(BIN)/python -m launch.sweep --config=launch/configs/$$experiment.py:cpu \
	    --workdir=$(REPRODUCE_DIR)/$$experiment || exit 1; \
	done
	$(BIN)/python -m launch.report \
	  --workdirs=$(subst $(space),$(comma),$(addprefix $(REPRODUCE_DIR)/,$(EXPERIMENTS))) \
	  --out=$(REPRODUCE_DIR)/report

test: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2

clean:
	rm -rf $(VENV) runs
