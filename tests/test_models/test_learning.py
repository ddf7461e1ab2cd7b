"""A few optimizer steps on a fixed real batch lower the loss."""
import torch
from mmengine.dataset import pseudo_collate

from conftest import load_config, shared_data
from mmdet.datasets import CocoPanopticDataset
from mmdet.registry import MODELS


def coco_sample_batch(scale=(320, 224)):
    root = shared_data('coco_panoptic_sample')
    dataset = CocoPanopticDataset(
        data_root=str(root),
        ann_file='panoptic_examples.json',
        data_prefix=dict(img='input_images/', seg='panoptic_examples/'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadPanopticAnnotations', with_bbox=True,
                 with_mask=True, with_seg=True),
            dict(type='Resize', scale=scale, keep_ratio=True),
            dict(type='PackDetInputs')
        ])
    assert len(dataset) == 2
    return pseudo_collate([dataset[0], dataset[1]])


def test_training_steps_on_real_coco_panoptic_lower_the_loss():
    torch.manual_seed(0)
    cfg = load_config('rap-sam_r18_8xb2-12e_coco-panoptic.py', 1024)
    model = MODELS.build(cfg.model)
    model.train()
    batch = coco_sample_batch()
    optim = torch.optim.AdamW(model.parameters(), lr=3e-4)
    history = []
    for _ in range(12):
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
        total = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad()
        total.backward()
        optim.step()
        history.append(total.item())
    assert all(torch.isfinite(torch.tensor(history)))
    first, last = sum(history[:2]) / 2, sum(history[-2:]) / 2
    assert last < 0.8 * first, history
