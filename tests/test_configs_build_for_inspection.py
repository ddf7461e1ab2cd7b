"""Every config builds without its embedding files when asked explicitly,
and only then."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from conftest import REPO

CONFIGS = sorted((REPO / 'configs' / 'rap_sam').glob('*.py'))
RANDOM = 'model.panoptic_head.{}.random_embeddings'


def inspection_options(cfg: Config) -> dict:
    """The documented switch, for each classifier the config has."""
    head = cfg.model.panoptic_head
    return {
        RANDOM.format(key): True
        for key in ('classifier', 'test_classifier') if head.get(key)
    }


@pytest.mark.parametrize('config', CONFIGS, ids=lambda p: p.stem)
def test_config_builds_with_the_switch_and_not_without(config: Path):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(str(config))
    cfg.model.backbone.init_cfg = None
    files = [
        cfg.model.panoptic_head[k].get('embedding_file')
        for k in ('classifier', 'test_classifier')
        if cfg.model.panoptic_head.get(k)
    ]
    if any(f and not Path(f).exists() for f in files):
        with pytest.raises(FileNotFoundError,
                           match='build_text_embeddings.py'):
            MODELS.build(cfg.model)
    cfg.merge_from_dict(inspection_options(cfg))
    model = MODELS.build(cfg.model)
    head = model.panoptic_head
    assert head.classifier.num_classes == head.num_classes


def test_inferencer_runs_a_config_with_the_switch():
    """mmdet's DetInferencer on a paper config, no embedding file, random
    weights: a panoptic result."""
    from mmdet.apis import DetInferencer
    import numpy as np
    cfg = Config.fromfile(
        str(REPO / 'configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py'))
    cfg.model.backbone.init_cfg = None
    cfg.merge_from_dict(inspection_options(cfg))
    torch.manual_seed(0)
    inferencer = DetInferencer(model=cfg, weights=None, device='cpu',
                               show_progress=False)
    image = np.random.default_rng(0).integers(0, 255, (64, 96, 3), np.uint8)
    out = inferencer(image, return_datasamples=True, no_save_vis=True)
    sample = out['predictions'][0]
    assert sample.pred_panoptic_seg.sem_seg.shape[-2:] == (64, 96)
