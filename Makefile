# The quick-start commands: `make demo` (the main job), `make smoke` (the same job at the tiny
# scale: 40 s of CPU time), `make test` (the full suite, as CI runs it) and `make test-fast`
# (the suite without the tests marked slow). Each creates the virtual environment .venv on
# first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WORKDIR ?= runs/yang2023_cpu_$(shell date +%Y%m%d_%H%M%S)
SMOKE_WORKDIR ?= runs/yang2023_tiny_$(shell date +%Y%m%d_%H%M%S)
# `make reproduce`: every cpu study (experiment:variant) into its own work directory
# runs/reproduce_<time>/<experiment>_<variant>, then one report over them, labelled by variant.
STUDIES := yang2023:cpu yang2023:cpu_mechanism acharyya2021:cpu wolfe2021:cpu \
  bartoldson2020:cpu bartoldson2020:cpu_mnist
labelled = $(word 2,$(subst :, ,$(1)))=$(REPRODUCE_DIR)/$(subst :,_,$(1))
REPRODUCE_DIR ?= runs/reproduce_$(shell date +%Y%m%d_%H%M%S)
comma := ,
empty :=
space := $(empty) $(empty)

.PHONY: demo smoke reproduce test test-fast lint clean notebooks

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/activate

demo: $(BIN)/activate
	$(BIN)/python -m launch.sweep --config=launch/configs/yang2023.py:cpu --workdir=$(WORKDIR)

smoke: $(BIN)/activate
	$(BIN)/python -m launch.sweep --config=launch/configs/yang2023.py:tiny --workdir=$(SMOKE_WORKDIR)

reproduce: $(BIN)/activate
	mkdir -p $(REPRODUCE_DIR)
	for study in $(STUDIES); do \
	  experiment=$${study%%:*}; variant=$${study##*:}; start=$$(date +%s); \
	  $(BIN)/python -m launch.sweep --config=launch/configs/$$experiment.py:$$variant \
	    --workdir=$(REPRODUCE_DIR)/$${experiment}_$$variant || exit 1; \
	  echo "$$study $$(( $$(date +%s) - start )) s, load $$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)" \
	    | tee -a $(REPRODUCE_DIR)/times.txt; \
	done
	$(BIN)/python -m launch.report \
	  --workdirs=$(subst $(space),$(comma),$(foreach s,$(STUDIES),$(call labelled,$(s)))) \
	  --out=$(REPRODUCE_DIR)/report

test: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2

test-fast: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 -m "not slow"

# `make notebooks`: executes colabs/*.ipynb in place at the tiny scale (launch/notebooks.py),
# so they are committed with their outputs (small PNGs; a test checks size and variant).
notebooks: $(BIN)/activate
	$(BIN)/python -m launch.notebooks colabs/*.ipynb

clean:
	rm -rf $(VENV) runs

# `make bench-phases`: where each cpu job's time goes (compile, data, init, steps, finalize,
# analysis, figures; BENCHMARKS.md). Run it on an idle machine: it records the load average.
# Cold compiles unless BENCH_CACHE names a persistent compilation cache directory.
BENCH_CONFIGS ?= yang2023:cpu,yang2023:cpu_mechanism,acharyya2021:cpu,wolfe2021:cpu,bartoldson2020:cpu,bartoldson2020:cpu_mnist
BENCH_CACHE ?=
.PHONY: bench-phases bench-gpu-costs
bench-phases: $(BIN)/activate
	$(BIN)/python -m launch.bench --phases --configs=$(BENCH_CONFIGS) \
	  --compilation_cache_dir=$(BENCH_CACHE) --out=runs/bench/phases.md --json=runs/bench/phases.json

# `make bench-gpu-costs`: each gpu config's FLOPs, bytes and expected H100 time, on paper.
# (acharyya2021's ODEs run outside the engine, so they are not priced; they are off here
# because they fail on the dry run's empty grid shards.)
bench-gpu-costs: $(BIN)/activate
	$(BIN)/python -m launch.bench --gpu_costs \
	  --configs=yang2023:gpu,acharyya2021:gpu+ode.enabled=False,wolfe2021:gpu,bartoldson2020:gpu \
	  --out=runs/bench/gpu_costs.md --json=runs/bench/gpu_costs.json

# `make golden`: re-record the tiny configs' claim numbers and sweep-array hashes that
# tests/test_golden.py compares against (after a change meant to alter results; review the diff).
.PHONY: golden
golden: $(BIN)/activate
	$(BIN)/python -m tests.golden_outputs
