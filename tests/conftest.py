"""Shared fixtures: configs, small models and batches for CPU tests."""
import os.path as osp
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import rap_sam  # noqa: F401  (registers the modules)
from mmdet.utils import register_all_modules
from rap_sam.inference import use_random_embeddings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / 'shared' / 'data'
CONFIG_DIR = REPO / 'configs' / 'rap_sam'
ALL_CONFIGS = sorted(p.name for p in CONFIG_DIR.glob('*.py'))

register_all_modules()
torch.set_num_threads(min(2, torch.get_num_threads()))


def load_config(name: str, num_points: int = 256) -> Config:
    """A config with random class embeddings, few sampled points and a
    backbone trained from scratch (no ImageNet weights are fetched)."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    use_random_embeddings(cfg)
    cfg.model.backbone.init_cfg = None
    cfg.model.train_cfg.num_points = num_points
    return without_batch_padding(cfg)


def load_script(*parts: str):
    """Import a script of the repository (e.g. ``tools/train.py``) as a
    module."""
    import importlib.util
    path = REPO.joinpath(*parts)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f'real sample data not found at {path}')
    return path


def without_batch_padding(cfg: Config) -> Config:
    """Drop the 736x1280 fixed-size batch padding (slow for tiny inputs)."""
    cfg.model.data_preprocessor.batch_augments = None
    return cfg
