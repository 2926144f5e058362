# Embed Studio: `make run` opens the app, `make test` runs the tests. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test install models bench bundle screenshots clean-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

models: install
	$(PY) -m models build

run: models
	$(VENV)/bin/embedstudio

test: models
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider

# The data the benchmarks read is checked first (any Python 3; one line per missing file), then the
# models are built, the bench extra installed, and each benchmark checks all of its inputs again.
bench:
	@$(PYTHON) benchmarks/check_inputs.py --before-install
	@$(MAKE) --no-print-directory models
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/encoders.py
	$(PY) benchmarks/word2vec.py
	$(PY) benchmarks/documents.py
	$(PY) benchmarks/images.py

# The one-folder app dist/EmbedStudio/ (PyInstaller, in a build venv of its own; models are not bundled).
bundle:
	$(PYTHON) packaging/build_bundle.py

clean-venv:
	rm -rf $(VENV)
