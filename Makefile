# Two commands matter: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUPERSET_VENV  := .venv-superset
SUPERSET_STAMP := $(SUPERSET_VENV)/.installed
SUPERSET_PORT  ?= 8088
DEMO   ?= .demo
DEMO_RESIDENTS ?= 30000
DEMO_DAYS ?= 60

BENCH_RESIDENTS ?= 100000
BENCH_DAYS ?= 30

.PHONY: demo spark-demo test venv test-venv lint bench clean dagster superset superset-venv superset-serve

venv: $(STAMP)

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (or the venv is read-only), every
# zhili, dbt and test process would otherwise compile Dagster, dbt and Polars from source at start-up
# (measured: `import dagster, dagster_dbt, polars, duckdb` 5.2 s of CPU before, 2.7 s after).
export UV_COMPILE_BYTECODE := 1

# uv installs the locked tree in seconds; pip would take minutes to resolve it.
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# The test extra (pytest, hypothesis, playwright, ruff) on top of the runtime tree: the tests need it,
# a deployment and `make demo` do not.
TEST_STAMP := $(VENV)/.installed-test
test-venv: $(TEST_STAMP)

# The spark extra too (requirements-spark.lock: pyspark, dbt-spark[session]; ~45 s): the tests compare the
# engines (issue 25, docs/spark.md).
$(TEST_STAMP): $(STAMP) requirements-test.lock requirements-spark.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock -r requirements-test.lock -r requirements-spark.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e '.[test,spark]'
	touch $(TEST_STAMP)

demo: $(STAMP)
	@test -d $(DEMO)/landing || $(BIN)/zhili generate --out $(DEMO) --residents $(DEMO_RESIDENTS) --days $(DEMO_DAYS) --seed 20241101
	$(BIN)/zhili run --landing $(DEMO)/landing --home $(DEMO)/home

# From Debian, installed when missing: a CJK font for the briefing's charts (fonts-noto-cjk) and the
# Chromium the UI test drives through Playwright (no browser is downloaded at run time).
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
CHROMIUM := /usr/bin/chromium
$(CJK_FONT) $(CHROMIUM) &:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-noto-cjk chromium

# From Debian, installed when missing: the Java runtime Spark runs on (issue 25; docs/spark.md). Debian 12's
# default JRE; nothing is fetched from Maven (Splink's comparisons need no jar, dbt-spark runs in-process).
JAVA := /usr/bin/java
$(JAVA):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless

# The demo's landing built on Spark (docs/spark.md) into a home of its own: the test venv carries pyspark and
# dbt-spark, Java comes from Debian.
spark-demo: $(TEST_STAMP) $(JAVA)
	@test -d $(DEMO)/landing || $(BIN)/zhili generate --out $(DEMO) --residents $(DEMO_RESIDENTS) --days $(DEMO_DAYS) --seed 20241101
	$(BIN)/zhili run --engine spark --landing $(DEMO)/landing --home $(DEMO)/spark-home

# Lint first: it takes seconds, the suite takes most of an hour.
lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# --durations: the slowest tests are named at the end, to keep the suite well inside CI's limit.
test: lint $(TEST_STAMP) $(SUPERSET_STAMP) $(CJK_FONT) $(CHROMIUM) $(JAVA)
	$(BIN)/python -m pytest -q --durations=25 $(PYTEST_ARGS)

# The UI shares the CLI's Dagster instance (<home>/dagster), so it shows the runs `make demo` made.
dagster: $(STAMP)
	mkdir -p $(abspath $(DEMO))/home/dagster
	ZHILI_LANDING=$(abspath $(DEMO))/landing ZHILI_HOME=$(abspath $(DEMO))/home DAGSTER_HOME=$(abspath $(DEMO))/home/dagster \
		$(BIN)/dagster dev -m orchestration.definitions

# Apache Superset in its own venv (it pins its own SQLAlchemy and Flask), from its own lock; its state
# (metadata DB, secret, admin password) in <home>/superset, the dashboard imported from superset/dashboard/.

superset-venv: $(SUPERSET_STAMP)

$(SUPERSET_STAMP): superset/requirements.lock $(STAMP)
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(BIN)/uv pip install --quiet --python $(SUPERSET_VENV)/bin/python -r superset/requirements.lock
	touch $(SUPERSET_STAMP)

superset: $(SUPERSET_STAMP)
	@test -f $(DEMO)/home/serving/zhili.duckdb || $(MAKE) demo
	$(SUPERSET_VENV)/bin/python superset/zhili_superset.py setup --home $(DEMO)/home
	@echo "start it with: make superset-serve   (http://127.0.0.1:$(SUPERSET_PORT)/superset/dashboard/zhili-governance/)"

superset-serve: superset
	$(SUPERSET_VENV)/bin/python superset/zhili_superset.py serve --home $(DEMO)/home --host 127.0.0.1 --port $(SUPERSET_PORT)

# Stage timings, the daily increment and the DuckDB floor; prints a table and writes JSON.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pipeline.py --residents $(BENCH_RESIDENTS) --days $(BENCH_DAYS) \
		--generated .bench/gen-$(BENCH_RESIDENTS)-$(BENCH_DAYS) --json .bench/bench-$(BENCH_RESIDENTS)-$(BENCH_DAYS).json

clean:
	rm -rf $(VENV) $(SUPERSET_VENV) $(DEMO) .bench
