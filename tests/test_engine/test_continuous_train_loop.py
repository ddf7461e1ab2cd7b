"""Iteration-based training on a tiny dataset never idles between epochs."""
import time

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import rap_sam  # noqa: F401  (registers the loop)
from rap_sam.engine import RestartingIterator

STEP_SECONDS = 0.02


class TwoImages(Dataset):
    """Two 3x32x32 'images', timed as data loading."""

    def __init__(self, clock: dict) -> None:
        self.clock = clock
        self.items = [torch.rand(3, 32, 32) for _ in range(2)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        start = time.perf_counter()
        item = dict(inputs=self.items[index])
        self.clock['data'] += time.perf_counter() - start
        return item


class TimedModel(BaseModel):
    """A small conv net whose train steps take about STEP_SECONDS each."""

    def __init__(self, clock: dict) -> None:
        super().__init__()
        self.clock = clock
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.conv(torch.stack(inputs) if isinstance(inputs, list)
                        else inputs)
        return dict(loss=out.pow(2).mean())

    def train_step(self, data, optim_wrapper):
        start = time.perf_counter()
        time.sleep(STEP_SECONDS)  # stands for the model's compute
        log_vars = super().train_step(data, optim_wrapper)
        self.clock['step'] += time.perf_counter() - start
        return log_vars


def run_loop(tmp_path, loop_type: str, iters: int) -> dict:
    """Train ``iters`` iterations; return wall, step and data seconds."""
    clock = dict(step=0., data=0.)
    runner = Runner(
        model=TimedModel(clock),
        work_dir=str(tmp_path / loop_type),
        train_dataloader=dict(
            dataset=TwoImages(clock),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(type=loop_type, max_iters=iters),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1000),
            checkpoint=dict(type='CheckpointHook', interval=10**6)),
        default_scope='mmdet',
        log_level='WARNING')
    start = time.perf_counter()
    runner.train()
    clock['wall'] = time.perf_counter() - start
    clock['idle'] = clock['wall'] - clock['step'] - clock['data']
    return clock


def test_two_image_dataset_spends_under_10_percent_outside_steps(tmp_path):
    # 25 iterations, one epoch each: mmengine's loop would sleep 48 s.
    clock = run_loop(tmp_path, 'ContinuousIterBasedTrainLoop', 25)
    assert clock['step'] >= 25 * STEP_SECONDS
    assert clock['idle'] / clock['wall'] < 0.10, clock


def test_mmengine_loop_idles_on_the_same_run(tmp_path):
    """The measurement above can fail: mmengine's own loop fails it."""
    clock = run_loop(tmp_path, 'IterBasedTrainLoop', 3)
    assert clock['idle'] / clock['wall'] > 0.5, clock


def test_restarting_iterator_sets_the_epoch_and_goes_on():
    class Sampler(torch.utils.data.Sampler):
        def __init__(self):
            self.epochs = []

        def set_epoch(self, epoch):
            self.epochs.append(epoch)

        def __iter__(self):
            return iter([0, 1])

        def __len__(self):
            return 2

    sampler = Sampler()
    loader = torch.utils.data.DataLoader(
        list(range(2)), sampler=sampler, batch_size=1)
    iterator = RestartingIterator(loader)
    values = [int(next(iterator)) for _ in range(7)]
    assert values == [0, 1, 0, 1, 0, 1, 0]
    assert sampler.epochs == [1, 2, 3]
