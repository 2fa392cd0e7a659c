# gradcam-course: every command a student, an instructor or CI needs.
# `make lab` and `make test` set everything up on first use (see `setup`).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
PORT   ?= 8888
# nbgrader and Jupyter start helper commands (alembic, kernels): find them in the venv first
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help setup lab lab-instructor test build release grade data checkpoints bench clean-venv

help:
	@echo "make lab          open the course in JupyterLab (sets everything up on first use)"
	@echo "make test         run the test suite (sets everything up on first use)"
	@echo "make setup        create .venv and install the course and its dependencies"
	@echo "make data         generate the plant dataset into data/plants/"
	@echo "make build        regenerate course/ and the reference modules from solutions/"
	@echo "make release      write the student bundle into release/"
	@echo "make grade SUBMISSIONS=DIR   autograde DIR/<student>/<lesson>/<lesson>.ipynb"
	@echo "make lab-instructor          JupyterLab on autograder/ with nbgrader's formgrader"
	@echo "make checkpoints  retrain the shipped classifiers into checkpoints/"
	@echo "make bench        run the timing scripts under benchmarks/"

# Idempotent: re-installs only when pyproject.toml changed since the last install.
setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e ".[dev]"
	$(PY) -m utils.lab_settings
	@touch $(STAMP)
	@echo "Set-up done: $(VENV) is ready."

data: setup
	$(PY) -m data.generate

lab: setup data
	$(PY) -m jupyter lab --config=jupyter_config.py --allow-root --no-browser \
		--ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT)

# Two pytest-xdist workers; tests/batch_scheduling.py keeps each graded batch on one worker.
# Set TEST_WORKERS=0 to run serially (e.g. to read one test's output in order).
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --durations=15

build: setup
	$(PY) -m autograder build

release: setup
	$(PY) -m autograder release

SUBMISSIONS ?= submissions
grade: setup data
	$(PY) -m autograder grade $(SUBMISSIONS)
	$(PY) -m autograder feedback

# The instructor's lab: nbgrader's formgrader and every instructor tool, serving the nbgrader
# course folder (autograder/); its own config, since the student lab hides those tools.
lab-instructor: setup data
	cd autograder && ../$(PY) -m jupyter lab --config=jupyter_instructor_config.py --allow-root \
		--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT)

checkpoints: setup data
	$(PY) -m solutions.tools.train_checkpoints
	$(PY) -m solutions.tools.train_shortcut

bench: setup data
	$(PY) benchmarks/lesson01_runtime.py
	$(PY) benchmarks/gradcam_speed.py
	$(PY) benchmarks/guided_speed.py
	$(PY) benchmarks/grading_throughput.py

clean-venv:
	rm -rf $(VENV)
