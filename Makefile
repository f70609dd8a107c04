# nhiguard developer entry points. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench lint clean bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[fast,watch]'
	$(MAKE) -s bytecode
	touch $(STAMP)

# An editable install leaves the sources uncompiled, and where PYTHONDONTWRITEBYTECODE is set
# every start-up compiles them again (a tenth of a small scan). Compile them once here.
bytecode:
	$(BIN)/python -m compileall -q src

install: $(STAMP)  ## create .venv and install nhiguard (with Hyperscan)

$(VENV)/.test-installed: $(STAMP)
	$(BIN)/pip install -q -e '.[fast,watch,test,postgres]'
	touch $@

demo: install  ## build a demo estate in a temp folder and scan it with the SQLite store
	@set -e; estate=$$($(BIN)/python demo/build_estate.py); \
	echo "Demo estate: $$estate" >&2; \
	rc=0; cd $$estate && $(CURDIR)/$(BIN)/nhiguard scan payments-service ci-logs --progress off || rc=$$?; \
	echo "(nhiguard exit code $$rc: 1 means findings were reported)" >&2; \
	test $$rc -le 1

test: $(VENV)/.test-installed  ## install test dependencies, start services, run the test suite
	bash tests/run.sh

bench: install bytecode  ## benchmarks against peer scanners (installed into bench/.peers)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/credbench.py
	$(BIN)/python bench/findings.py
	$(BIN)/python bench/image.py

lint:
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) .nhiguard build dist *.egg-info
