# celeba-lab: two commands do everything.
#   make book   set up .venv when missing, then build the whole book, executing every chapter
#   make test   set up .venv when missing, then run the unit tests (under each Keras backend)
#               and nbval over every chapter (a following `make book` renders nbval's outputs)
# Other targets: check-book (build + browser check of the HTML), sync (md -> ipynb),
# record-gans (the GAN runs chapters load as recorded, under book/recorded/),
# bench (speed and memory against the standard Keras ways), bench-chapters (each chapter's
# peak memory on the full data set), bench-read-ahead (later epochs of a cache beyond the file
# cache, with and without read-ahead), clean.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# Unit tests report failures with Python's own tracebacks (--tb=native): pytest's default
# formatting parses source with `ast`, which CPython 3.11.7 can crash on after a deep recursion
# (seen once under PyTorch: "AST constructor recursion depth mismatch"), hiding the failing test.
# Keras backends the unit tests run under (each must be installed; see `install`). The whole
# suite runs on the default backend. The others run the test modules whose code paths differ
# by backend (Keras data adapters, the classifiers' training, the GAN's train_step per backend;
# the rest, such as the synthetic set, the collapse measures, the API docs or the book checks,
# run the same on any backend) and skip the tests marked slow (longer trainings whose
# backend-specific code paths the fast tests already exercise), to keep CI short.
DEFAULT_BACKEND ?= tensorflow
OTHER_BACKENDS ?= jax torch
BACKEND_TESTS := tests/test_batches.py tests/test_classifiers.py tests/test_classifier_runs.py \
	tests/test_gan.py tests/test_gan_training.py

# One cache for chapters, nbval and the book build: the second execution of a chapter reuses the
# synthetic data, decoded images and trained models of the first.
export CELEBA_LAB_CACHE ?= $(CURDIR)/.cache
# The kernel profile that keeps TensorFlow's C++ log lines out of rendered pages.
export IPYTHONDIR := $(CURDIR)/.ipython
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONWARNINGS ?= ignore::DeprecationWarning

NOTEBOOK_SOURCES := $(shell grep -l '^jupytext:' book/*.md)
NOTEBOOKS := $(NOTEBOOK_SOURCES:.md=.ipynb)

.PHONY: install test unit chapters book check-book sync record-gans bench bench-full \
	bench-chapters bench-read-ahead clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch 2.13.0 is pinned to get a CPU build; see the README ("Keras backends").
	$(BIN)/python -m pip install --quiet -e ".[cpu,jax,book,test,browser]" "torch==2.13.0"
	touch $@

install: $(BIN)/.installed

test: install unit chapters

unit: install
	@echo "== unit tests, KERAS_BACKEND=$(DEFAULT_BACKEND) (all)"
	KERAS_BACKEND=$(DEFAULT_BACKEND) $(BIN)/python -m pytest -q -p no:cacheprovider --tb=native tests
	@echo "== the package's docstring examples (doctests; namespace in conftest.py)"
	KERAS_BACKEND=$(DEFAULT_BACKEND) $(BIN)/python -m pytest -q -p no:cacheprovider --tb=native \
	  --doctest-modules celeba_lab --ignore=celeba_lab/__main__.py
	@for backend in $(OTHER_BACKENDS); do \
	  echo "== unit tests, KERAS_BACKEND=$$backend (backend-specific modules, not slow)"; \
	  KERAS_BACKEND=$$backend $(BIN)/python -m pytest -q -p no:cacheprovider --tb=native \
	    -m "not slow" \
	    $(BACKEND_TESTS) || exit 1; \
	done

# nbval executes every chapter; book/conftest.py stores the outputs of each chapter that passes
# in the book's execution cache, so a following `make book` renders them without executing again.
chapters: install
	$(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
	  --nbval-cell-timeout=3600 --executed-into=_build/.jupyter_cache $(NOTEBOOKS)

book: install
	$(BIN)/jupyter-book build . -W --keep-going

check-book: book
	$(BIN)/python scripts/check_html.py _build/html

sync: install
	$(BIN)/jupytext --to ipynb $(NOTEBOOK_SOURCES)

# Train (or load from the cache) the GAN runs chapters load as recorded, and write them under
# book/recorded/ (see scripts/record_gans.py); about 10 minutes on a 2-core CPU.
record-gans: install
	$(BIN)/python -m scripts.record_gans

bench: install
	$(BIN)/python -m bench

bench-full: install
	$(BIN)/python -m bench --full

# Every chapter on all 202,599 images (synthetic unless CELEBA_ROOT is set), full-profile sample
# sizes, short training: each chapter's peak memory against Colab's RAM.
bench-chapters: install
	$(BIN)/python -m bench.chapter_memory

# Later epochs over all 202,599 images with and without read-ahead (~4 min once the synthetic
# set is written; 22 GiB of disk).
bench-read-ahead: install
	$(BIN)/python -m bench.read_ahead

clean:
	rm -rf _build .cache .pytest_cache
