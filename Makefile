# Quick start: `make demo` and `make test` set up .venv/ when it is missing.
PY := .venv/bin/python
export OMP_NUM_THREADS ?= 2

.PHONY: env demo test lint

env:
	@bash tools/setup_env.sh

# The main job: train a small RAP-SAM on built-in data (real samples of
# ../shared/data, or synthetic ones), then PQ / VIS mAP / prompt mIoU and PNGs.
demo: env
	$(PY) demo/train_eval_demo.py --work-dir outputs/demo --minutes 15

test: env
	$(PY) -m pytest tests -q -p no:cacheprovider

lint: env
	$(PY) -m flake8 projects tools tests demo
