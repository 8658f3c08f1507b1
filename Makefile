# padan: make run (whole pipeline on generated data), make test (the suite).
# Both run `make setup` first when it is missing or out of date.

SHELL := /bin/bash
PYTHON_BOOT ?= python3.11
VENV        := .venv
PY          := $(VENV)/bin/python
PADAN       := $(VENV)/bin/padan
STAMPS      := .stamps
JARS_DIR    := .jars
DELTA_COORD := io.delta:delta-spark_4.2_2.13:4.4.0
ENV         ?= local
SIZE        ?= 100k
BENCH_DRIVER_MEMORY ?= 12g

export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON ?= $(abspath $(PY))
export PADAN_JARS_DIR ?= $(abspath $(JARS_DIR))

.PHONY: setup setup-airflow run test test-fast bench notebooks package submit cluster-up cluster-down clean help

help:
	@echo "make run      - generate demo data and run the whole pipeline into ./lake"
	@echo "make test     - run the test suite"
	@echo "make setup    - create .venv, install pinned dependencies, stage Delta jars (done automatically)"
	@echo "make bench    - benchmark (SIZE=100k|1M|10M)"
	@echo "make package  - wheel + --py-files zip + conf archive into dist/"
	@echo "make clean    - remove the lake, generated data and build outputs (keeps .venv and jars)"

# Prerequisites are expanded when make reads the rule, so AIRFLOW must be set above it.
AIRFLOW    ?= 1
setup: $(STAMPS)/setup $(if $(filter 1,$(AIRFLOW)),$(STAMPS)/airflow)

$(STAMPS)/java:
	@command -v java >/dev/null 2>&1 || { echo "padan setup: Java 17 or newer is required (no 'java' on PATH); install a JDK 17+ and retry." >&2; exit 1; }
	@v=$$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $$2}'); \
	  major=$${v%%.*}; if [ "$$major" -lt 17 ] 2>/dev/null; then echo "padan setup: Java 17 or newer is required, found Java $$v at $$(command -v java)." >&2; exit 1; fi
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/venv: requirements.lock pyproject.toml | $(STAMPS)/java
	@command -v $(PYTHON_BOOT) >/dev/null 2>&1 || { echo "padan setup: $(PYTHON_BOOT) is required." >&2; exit 1; }
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/jars: $(STAMPS)/venv Makefile scripts/stage_jars.py
	$(PY) scripts/stage_jars.py $(JARS_DIR) $(DELTA_COORD)
	@mkdir -p $(STAMPS) && touch $@

# Headless Chromium renders the HTML run report in the tests: Debian's package, installed with
# apt-get only when /usr/bin/chromium is missing and we are root (else the rendering test is skipped).
$(STAMPS)/chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "padan setup: installing chromium (apt-get) for the report rendering test"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null 2>&1 \
	    || { echo "padan setup: apt-get install chromium failed" >&2; exit 1; }; \
	fi
	@mkdir -p $(STAMPS) && touch $@

# Airflow for the DAG tests (tests/test_airflow_dag.py), in its own environment because it pins many
# packages padan shares: apache-airflow 3.3.2 with every dependency pinned in requirements-airflow.lock
# (our constraints file; regenerate with `.venv-airflow/bin/pip freeze` after installing a new
# apache-airflow). About 290 MB and a minute. `make setup AIRFLOW=0` leaves it out; the DAG tests skip.
AF_VENV    := .venv-airflow
setup-airflow: $(STAMPS)/airflow

$(STAMPS)/airflow: requirements-airflow.lock
	@command -v $(PYTHON_BOOT) >/dev/null 2>&1 || { echo "padan setup: $(PYTHON_BOOT) is required." >&2; exit 1; }
	test -x $(AF_VENV)/bin/python || $(PYTHON_BOOT) -m venv $(AF_VENV)
	$(AF_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AF_VENV)/bin/python -m pip install --quiet -r requirements-airflow.lock
	@mkdir -p $(STAMPS) && touch $@

# The Spark driver's class-data-sharing archive (scripts/build_class_archive.py, about a minute):
# drivers padan starts map it instead of loading Spark's classes again. Rebuilt with the jars.
$(STAMPS)/cds: $(STAMPS)/jars scripts/build_class_archive.py
	$(PY) scripts/build_class_archive.py $(JARS_DIR)
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/setup: $(STAMPS)/venv $(STAMPS)/jars $(STAMPS)/cds $(STAMPS)/chromium
	@$(PY) -c "import pyspark, delta, splink; print('padan setup ok: pyspark', pyspark.__version__, '| splink', splink.__version__)"
	@touch $@

run: setup
	$(PADAN) demo --env $(ENV)

# Two worker processes, each with its own Spark session; a test file (or the group sharing the
# pipeline fixture) stays in one worker: see tests/conftest.py. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
XDIST := $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder)
test: setup
	$(PY) -m pytest -q $(XDIST) --durations=25

# The fast tier: unit and stage tests on tiny DataFrames; no whole pipeline, notebook, generator,
# spark-submit or cluster test.
test-fast: setup
	$(PY) -m pytest -q $(XDIST) -m "not integration and not submit and not cluster and not notebooks and not synth" --durations=10

bench: setup
	$(PY) bench/harness.py --size $(SIZE) --driver-memory $(BENCH_DRIVER_MEMORY) $(BENCH_ARGS)

notebooks: setup
	$(PY) -m pytest -q -m notebooks

# Wheel, --py-files zip and conf archive into $(DIST) (scripts/package.py; the submit and cluster
# tests build through the same target into a temporary folder).
DIST ?= dist
package: setup
	$(PY) scripts/package.py $(DIST)

clean:
	rm -rf lake data dist build spark-warehouse metastore_db derby.log .pytest_cache

# SUBMIT_CONF: extra spark-submit options (e.g. --conf spark.ui.enabled=false --total-executor-cores 2).
# The driver and executors map the class archive `make setup` built when it is on their machine
# (this one, or a loopback cluster); elsewhere the JVM ignores the option.
SUBMIT_MASTER ?= local[2]
SUBMIT_JOB    ?= pipeline
SUBMIT_CONF   ?=
submit: package
	cds="$$($(PY) -c "from padan.spark import class_archive_options; print(class_archive_options())")"; \
	$(VENV)/bin/spark-submit --master $(SUBMIT_MASTER) \
	  --conf "spark.driver.extraJavaOptions=$$cds" --conf "spark.executor.extraJavaOptions=$$cds" \
	  $(SUBMIT_CONF) \
	  --jars $$($(PY) -c "from padan.spark import submit_jars; print(','.join(submit_jars()))") \
	  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
	  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
	  --conf spark.python.authenticate.socketTimeout=300s \
	  --py-files $(DIST)/padan_pyfiles.zip $(abspath jobs/$(SUBMIT_JOB).py) --env $(ENV) $(ARGS)

WORKERS ?= 2
cluster-up: setup
	VENV=$(VENV) scripts/cluster.sh up $(WORKERS)

cluster-down:
	VENV=$(VENV) scripts/cluster.sh down
