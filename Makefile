# Quick start: `make demo` and `make test` set up .venv/ when it is missing.
PY := .venv/bin/python
export OMP_NUM_THREADS ?= 2

.PHONY: env demo test lint

env:
	@bash tools/setup_env.sh

demo: env
	$(PY) demo/image_demo.py ../shared/data/images/truck.jpg \
		configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py \
		--random-weights --points 500,375 --boxes 425,600,700,875 \
		--out-dir outputs/demo

test: env
	$(PY) -m pytest tests -q -p no:cacheprovider

lint: env
	$(PY) -m flake8 projects tools tests demo
