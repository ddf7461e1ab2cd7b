"""TaskBatchSampler: one task per batch, repeat factors, DDP agreement."""
from collections import Counter

import pytest
from mmengine.dataset import BaseDataset, ConcatDataset, DefaultSampler

from mmdet.registry import DATA_SAMPLERS
from rap_sam.datasets.samplers import task_batch_sampler
from rap_sam.datasets.samplers.task_batch_sampler import TaskBatchSampler

TASKS = ['panoptic', 'video', 'prompt']


class ToyImages(BaseDataset):
    """Images, every third one portrait."""

    def __init__(self, size, video=False):
        self.size, self.video = size, video
        super().__init__(serialize_data=False)

    def load_data_list(self):
        infos = []
        for i in range(self.size):
            wh = dict(
                width=3, height=4) if i % 3 == 0 else dict(
                    width=4, height=3)
            infos.append(dict(images=[wh]) if self.video else wh)
        return infos


def concat(sizes=(40, 10, 20)):
    return ConcatDataset([
        ToyImages(sizes[0]),
        ToyImages(sizes[1], video=True),
        ToyImages(sizes[2])
    ])


def build(dataset, batch_size=2, seed=0, **kwargs):
    sampler = DefaultSampler(dataset, shuffle=True, seed=seed)
    kwargs.setdefault('tasks', TASKS)
    return DATA_SAMPLERS.build(
        dict(type='TaskBatchSampler', **kwargs),
        default_args=dict(sampler=sampler, batch_size=batch_size))


def source_of(dataset, index):
    return dataset._get_ori_dataset_idx(index)[0]


def portrait(dataset, index):
    info = dataset.get_data_info(index)
    info = info['images'][0] if 'images' in info else info
    return info['width'] < info['height']


def test_batches_never_mix_sources_and_group_aspect_ratios():
    dataset = concat()
    sampler = build(dataset, batch_size=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 14 + 4 + 7
    mixed_aspect = Counter()
    for batch in batches:
        assert len(batch) == 3
        sources = {source_of(dataset, i) for i in batch}
        assert len(sources) == 1
        if len({portrait(dataset, i) for i in batch}) > 1:
            mixed_aspect[sources.pop()] += 1
    assert all(count <= 1 for count in mixed_aspect.values())
    # Tasks are interleaved over the epoch, not run one after the other.
    tasks = [TASKS[source_of(dataset, b[0])] for b in batches]
    assert tasks == sampler_tasks(dataset, batch_size=3)
    assert sum(a != b for a, b in zip(tasks, tasks[1:])) > len(TASKS)


def sampler_tasks(dataset, **kwargs):
    return build(dataset, **kwargs).task_schedule()


def test_repeat_factors():
    dataset = concat()
    sampler = build(dataset, batch_size=2, repeat_factors=[1, 2.5, 0.5])
    counts = Counter(i for batch in sampler for i in batch)
    per_source = Counter()
    for index, count in counts.items():
        per_source[source_of(dataset, index)] += count
    # 40 x 1, 10 x 2.5 = 25 (topped up to 26 for whole batches), 20 x 0.5.
    assert per_source == {0: 40, 1: 26, 2: 10}
    assert len(sampler) == 20 + 13 + 5
    source1 = [counts[i] for i in range(40, 50)]
    assert all(2 <= c <= 4 for c in source1)
    source2 = [i for i in range(50, 70) if counts[i]]
    assert len(source2) == 10 and all(counts[i] == 1 for i in source2)
    assert not any(counts[i] != 1 for i in range(40))


def test_ranks_agree_on_tasks_and_split_samples(monkeypatch):
    dataset = concat()
    epochs = {}
    for rank in range(2):
        monkeypatch.setattr(
            task_batch_sampler, 'get_dist_info', lambda rank=rank: (rank, 2))
        sampler = build(dataset, batch_size=2, seed=3)
        assert sampler.world_size == 2
        runs = []
        for epoch in range(2):
            sampler.sampler.set_epoch(epoch)
            runs.append(list(sampler))
        epochs[rank] = runs
    for epoch in range(2):
        batches0, batches1 = epochs[0][epoch], epochs[1][epoch]
        assert len(batches0) == len(batches1) == 10 + 3 + 5
        tasks0 = [source_of(dataset, b[0]) for b in batches0]
        tasks1 = [source_of(dataset, b[0]) for b in batches1]
        assert tasks0 == tasks1
        seen0 = {i for b in batches0 for i in b}
        seen1 = {i for b in batches1 for i in b}
        # Source 0 (40 samples) splits exactly; the others are topped up.
        assert not (seen0 & seen1 & set(range(40)))
        assert (seen0 | seen1) >= set(range(70))
    # Another epoch, another order.
    assert epochs[0][0] != epochs[0][1]


def test_same_seed_and_epoch_give_the_same_epoch():
    dataset = concat()
    assert list(build(dataset, seed=5)) == list(build(dataset, seed=5))
    assert list(build(dataset, seed=5)) != list(build(dataset, seed=6))


def test_drop_last():
    sampler = build(concat((41, 9, 20)), batch_size=4, drop_last=True)
    assert len(sampler) == len(list(sampler)) == 10 + 2 + 5


def test_bad_arguments():
    with pytest.raises(ValueError, match='3 sources'):
        build(concat(), tasks=['video', 'prompt'])
    with pytest.raises(ValueError, match='unknown tasks'):
        build(concat(), tasks=['video', 'prompt', 'detection'])
    with pytest.raises(ValueError, match='repeat factors'):
        build(concat(), repeat_factors=[1, 1])
    assert isinstance(build(concat()), TaskBatchSampler)
