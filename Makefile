# Two entry points: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch first, pinned: 2.13.0 is the CPU build on this machine's disk. An
# unpinned torch would pull a multi-GB CUDA build.
TORCH_PIN := torch==2.13.0

.PHONY: demo test test-fast lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet $(TORCH_PIN)
	$(BIN)/pip install --quiet -e '.[test,ray]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/tasksift index sample_corpus --index .demo-index
	$(BIN)/tasksift search "how does a lender decide whether to approve a small business loan" --index .demo-index -k 3 --format table
	$(BIN)/tasksift search "plants that keep a river bank from washing away" --index .demo-index -k 3 --format table
	$(BIN)/tasksift search "why does my mayonnaise split" --index .demo-index -k 3 --format table
	@echo "PDFs, HTML, DOCX, EPUB, notebooks and e-mail are read too; a PDF hit shows its page:"
	$(BIN)/tasksift search "how deep should the water be for planting sedges" --index .demo-index -k 2 --format table
	@echo "Hybrid search (the default) fuses dense and BM25 results; --explain shows why:"
	$(BIN)/tasksift search "debt service coverage ratio" --index .demo-index -k 3 --format table --explain
	@echo "A search for another task than the index's is refused (exit code 3):"
	-$(BIN)/tasksift search "why does my mayonnaise split" --index .demo-index --task clustering

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests $(wildcard bench experiments scripts)
	$(BIN)/ruff format --check src tests $(wildcard bench experiments scripts)

format: $(VENV)/.installed
	$(BIN)/ruff format src tests $(wildcard bench experiments scripts)
	$(BIN)/ruff check --fix src tests $(wildcard bench experiments scripts)

# The fast tier (unit tests, no model, no index: well under a minute), then everything.
test-fast: lint
	$(BIN)/python -m pytest tests/unit

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .demo-index .pytest_cache
