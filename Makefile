# The two set-up commands from the README: `make run` (Bron on its embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test lint evidence-model

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# GGML_NATIVE=OFF: the compiled llama.cpp wheel then runs on any x86-64 CPU, so pip's cache can reuse it
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install -q -e '.[local,dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/bron run

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy bot connectors retrieval serving feedback evaluation finetune
	$(BIN)/pytest -q -rs

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot connectors retrieval serving feedback evaluation finetune

# Optional: EmbeddingGemma-300M re-scores the top hits for the evidence bar (README, "Abstention").
evidence-model: install
	scripts/evidence_model_setup.sh
