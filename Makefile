# Targets mirror CI: `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 5000
# The address of this machine on the local network (for `make run-lan`); override LAN_IP=...
LAN_IP ?= $(shell hostname -I 2>/dev/null | cut -d' ' -f1)
export SURVEYAPP_DATABASE_URL ?= sqlite:///instance/surveyapp.sqlite3

PO_FILES := $(wildcard translations/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)

.PHONY: install run run-lan serve test test-fast lint typecheck i18n-check i18n-update bench system-packages clean

install: $(STAMP) $(MO_FILES)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile -i $< -o $@

system-packages:
	bash scripts/system-packages.sh

node_modules/.installed-stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# The kiosk's offline keys for `make run` and `make run-lan`, next to the SQLite file
# (`make clean` removes them with instance/); generated once, on the first run.
run run-lan serve: export SURVEYAPP_OFFLINE_KEY_DIR ?= instance/offline-keys

## Set up, migrate the embedded SQLite database, load demo data if empty, and serve on this
## machine only (http://127.0.0.1:$(PORT)).
run: install
	bash scripts/system-packages.sh run || echo "PDF letters need Pango and HarfBuzz (see above); the app runs without them"
	$(BIN)/surveyapp migrate
	$(BIN)/surveyapp demo
	PORT=$(PORT) $(BIN)/surveyapp demo-links
	$(BIN)/surveyapp demo-code
	$(BIN)/surveyapp offline-keys generate --if-missing
	PORT=$(PORT) $(BIN)/surveyapp serve --host 127.0.0.1

## As `make run`, but on every network interface, so that a phone or tablet on the same
## (trusted) network can open the demo links: for a trial with demo data only. Plain HTTP,
## no TLS: never on a public or shared network, never with real data. Production is served
## behind an HTTPS proxy (see README, Configuration); `SURVEYAPP_ENV=production` refuses the
## demo secrets whatever the address.
run-lan: export SURVEYAPP_PUBLIC_URL ?= http://$(LAN_IP):$(PORT)
run-lan: install
	@echo "WARNING: serving on the local network (0.0.0.0:$(PORT)) over plain HTTP with demo data."
	@echo "WARNING: anyone on this network can reach it. Use a trusted network only; stop with Ctrl-C."
	@echo "Open $(SURVEYAPP_PUBLIC_URL) on the phone or tablet (SURVEYAPP_PUBLIC_URL, LAN_IP=... to change)."
	bash scripts/system-packages.sh run || echo "PDF letters need Pango and HarfBuzz (see above); the app runs without them"
	$(BIN)/surveyapp migrate
	$(BIN)/surveyapp demo
	PORT=$(PORT) $(BIN)/surveyapp demo-links
	$(BIN)/surveyapp demo-code
	$(BIN)/surveyapp offline-keys generate --if-missing
	PORT=$(PORT) $(BIN)/surveyapp serve --host 0.0.0.0

## As `make run`, but served by gunicorn with gunicorn.conf.py (2 workers per core, the
## redacting access log) on http://127.0.0.1:$(PORT): production-like serving, yet still the
## development settings, demo data and plain HTTP on this machine only. Not production: see
## the README's "Deployment".
serve: install
	bash scripts/system-packages.sh run || echo "PDF letters need Pango and HarfBuzz (see above); the app runs without them"
	$(BIN)/surveyapp migrate
	$(BIN)/surveyapp demo
	PORT=$(PORT) $(BIN)/surveyapp demo-links
	$(BIN)/surveyapp offline-keys generate --if-missing
	@echo "gunicorn on http://127.0.0.1:$(PORT)/ (development settings, demo data; Ctrl-C stops)"
	BIND=127.0.0.1:$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py surveyapp.wsgi:app

## Set up and run every test (SQLite and a real, temporary PostgreSQL).
test: install system-packages node_modules/.installed-stamp
	$(BIN)/python scripts/run_tests.py

test-fast: install
	$(BIN)/python -m pytest tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy surveyapp/instruments surveyapp/pseudonym.py surveyapp/scheduling.py surveyapp/enums.py surveyapp/suppression.py surveyapp/statistics.py surveyapp/report_tables.py surveyapp/importing.py surveyapp/linkcodes.py surveyapp/logs/__init__.py surveyapp/letters.py surveyapp/notify.py surveyapp/auditchain.py surveyapp/audit_actions.py surveyapp/redirects.py surveyapp/passwords.py surveyapp/offline_keys.py surveyapp/integrity.py surveyapp/bulkload.py

i18n-check: install
	$(BIN)/python scripts/i18n_check.py

## Re-extract UI strings and merge them into the catalogues (then translate and commit).
i18n-update: install
	$(BIN)/pybabel extract -F babel.cfg -k _l --no-location --sort-output --project surveyapp -o translations/messages.pot surveyapp
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete

## The load benchmark (app against the bare-Flask floor under gunicorn, PostgreSQL and SQLite,
## about 10 minutes; BENCH_ARGS=--quick for a 2-minute smoke check), then the small in-process
## figures of bench/run.py.
BENCH_ARGS ?=
bench: install
	$(BIN)/python bench/load_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache node_modules test-output $(MO_FILES)
