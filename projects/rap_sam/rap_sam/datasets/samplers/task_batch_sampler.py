"""Batches of one task at a time over a concatenation of sources."""
import math
from typing import Iterator, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import BatchSampler, Sampler

from mmdet.registry import DATA_SAMPLERS

TASKS = ('panoptic', 'video', 'prompt')


@DATA_SAMPLERS.register_module()
class TaskBatchSampler(BatchSampler):
    """Batches drawn from one source (hence one task) at a time.

    RAP-SAM trains panoptic images, video clips and prompted images
    together, but a batch must hold one kind of sample: the data
    preprocessor and the model dispatch on the batch's first sample, and
    ``pseudo_collate`` would put (C, H, W) images and (T, C, H, W) clips,
    or samples with and without prompts, in one list. The dataset is a
    ``ConcatDataset`` of sources, each with a task; every batch comes from
    one source, and under DDP every rank takes a batch of the same source at
    the same iteration, so all ranks run the same branch of the model and
    the same number of iterations (no collective ever waits for a rank that
    runs something else).

    Per epoch, with ``seed + epoch`` (the same on every rank):

    1. each source draws ``round(len(source) * repeat_factor)`` samples
       (whole shuffled passes plus a random part of one more pass), rounded
       up to whole batches on every rank by cycling (or down with
       ``drop_last``), and deals them out to the ranks;
    2. each rank groups its samples of a source into batches by aspect
       ratio (``width < height`` or not, as mmdet's
       ``AspectRatioBatchSampler`` and ``TrackAspectRatioBatchSampler``);
       its at most one leftover batch mixes both groups;
    3. the order of the batches of all sources is one shuffle, shared by
       the ranks.

    Only the dataset, ``seed`` and ``epoch`` of ``sampler`` are used (the
    runner builds a batch sampler around the dataloader's sampler; use
    mmengine's ``DefaultSampler``, whose epoch the runner's
    ``DistSamplerSeedHook`` sets). Without an ``epoch`` there (e.g.
    ``InfiniteSampler``), each new iteration over this sampler is the next
    epoch.

    Args:
        sampler (Sampler): The dataloader's sampler; its ``dataset`` is a
            ``ConcatDataset`` of the sources (any other dataset is one
            source).
        batch_size (int): Samples per batch on each rank.
        tasks (Sequence[str]): Task of each source, one of ``'panoptic'``,
            ``'video'``, ``'prompt'``.
        repeat_factors (Sequence[float], optional): Samples per epoch of
            each source, as a multiple of its size. Defaults to 1 each.
        drop_last (bool): Drop the samples that do not fill a batch on
            every rank instead of topping them up. Defaults to False.
        seed (int, optional): Seed when ``sampler`` has none. Defaults to a
            seed shared by the ranks.
    """

    def __init__(self,
                 sampler: Sampler,
                 batch_size: int,
                 tasks: Sequence[str],
                 repeat_factors: Optional[Sequence[float]] = None,
                 drop_last: bool = False,
                 seed: Optional[int] = None) -> None:
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError('batch_size should be a positive integer, got '
                             f'{batch_size!r}')
        if not hasattr(sampler, 'dataset'):
            raise TypeError('TaskBatchSampler needs a sampler with a '
                            f'`dataset`, got {type(sampler).__name__}')
        self.sampler = sampler
        self.dataset = sampler.dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.tasks = list(tasks)
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown:
            raise ValueError(f'unknown tasks {unknown}; tasks are {TASKS}')
        sizes = self._source_sizes()
        if len(self.tasks) != len(sizes):
            raise ValueError(f'{len(self.tasks)} tasks for {len(sizes)} '
                             'sources: give one task per dataset')
        if repeat_factors is None:
            repeat_factors = [1.0] * len(sizes)
        self.repeat_factors = [float(r) for r in repeat_factors]
        if len(self.repeat_factors) != len(sizes):
            raise ValueError(f'{len(self.repeat_factors)} repeat factors for '
                             f'{len(sizes)} sources')
        if any(r < 0 for r in self.repeat_factors):
            raise ValueError(
                f'repeat factors must be >= 0, got {self.repeat_factors}')
        self.rank, self.world_size = get_dist_info()
        sampler_seed = getattr(sampler, 'seed', None)
        if sampler_seed is not None:
            self.seed = sampler_seed
        else:
            self.seed = sync_random_seed() if seed is None else seed
        self._iterations = 0
        # Aspect-ratio group of each global index: -1 unknown, 0 portrait
        # (w < h), 1 landscape; filled on demand.
        self._groups = np.full(sum(sizes), -1, dtype=np.int8)

    def _source_sizes(self) -> List[int]:
        """Number of samples of each source."""
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        cumulative = getattr(self.dataset, 'cumulative_sizes', None)
        if cumulative is None:
            return [len(self.dataset)]
        return [b - a for a, b in zip([0] + list(cumulative), cumulative)]

    def num_batches(self) -> List[int]:
        """Batches per epoch of each source, on every rank."""
        per_step = self.batch_size * self.world_size
        out = []
        for size, factor in zip(self._source_sizes(), self.repeat_factors):
            num = round(size * factor)
            if self.drop_last:
                out.append(num // per_step)
            else:
                out.append(math.ceil(num / per_step))
        return out

    def __len__(self) -> int:
        return sum(self.num_batches())

    def _epoch(self) -> int:
        epoch = getattr(self.sampler, 'epoch', None)
        return self._iterations if epoch is None else epoch

    def _group(self, index: int) -> int:
        """Aspect-ratio group of a global index (image or video)."""
        if self._groups[index] < 0:
            info = self.dataset.get_data_info(index)
            if 'width' not in info and info.get('images'):
                info = info['images'][0]
            width, height = info.get('width', 1), info.get('height', 0)
            self._groups[index] = 0 if width < height else 1
        return int(self._groups[index])

    def _draw(self, size: int, factor: float, count: int,
              generator: torch.Generator) -> torch.Tensor:
        """Draw ``count`` local indices of a source.

        ``round(size * factor)`` draws hold each sample ``floor(factor)`` or
        ``ceil(factor)`` times, in random order; they are then cycled or
        cut to ``count``.
        """
        num = round(size * factor)
        passes = [
            torch.randperm(size, generator=generator)
            for _ in range(num // size)
        ]
        passes.append(torch.randperm(size, generator=generator)[:num % size])
        drawn = torch.cat(passes)
        drawn = drawn[torch.randperm(num, generator=generator)]
        if count > num:
            drawn = drawn.repeat(math.ceil(count / num))
        return drawn[:count]

    def _source_batches(self, source: int, num_batches: int,
                        generator: torch.Generator) -> List[List[int]]:
        """This rank's batches of one source, grouped by aspect ratio."""
        sizes = self._source_sizes()
        offset = sum(sizes[:source])
        count = num_batches * self.batch_size * self.world_size
        drawn = self._draw(sizes[source], self.repeat_factors[source], count,
                           generator)
        mine = (drawn[self.rank::self.world_size] + offset).tolist()
        batches, buckets = [], ([], [])
        for index in mine:
            bucket = buckets[self._group(index)]
            bucket.append(index)
            if len(bucket) == self.batch_size:
                batches.append(bucket[:])
                bucket.clear()
        left = buckets[0] + buckets[1]
        for start in range(0, len(left), self.batch_size):
            batches.append(left[start:start + self.batch_size])
        return batches

    def _schedule(self, generator: torch.Generator) -> List[int]:
        """The source of each batch of an epoch, shuffled."""
        schedule = torch.cat([
            torch.full((n, ), s, dtype=torch.long)
            for s, n in enumerate(self.num_batches())
        ])
        order = torch.randperm(len(schedule), generator=generator)
        return schedule[order].tolist()

    def _generator(self) -> torch.Generator:
        generator = torch.Generator()
        generator.manual_seed(self.seed + self._epoch())
        return generator

    def task_schedule(self) -> List[str]:
        """The task of each batch of the coming epoch (same on all ranks)."""
        return [self.tasks[s] for s in self._schedule(self._generator())]

    def __iter__(self) -> Iterator[List[int]]:
        generator = self._generator()
        self._iterations += 1
        schedule = self._schedule(generator)
        batches = [
            iter(self._source_batches(s, n, generator)) if n else iter([])
            for s, n in enumerate(self.num_batches())
        ]
        for source in schedule:
            yield next(batches[source])
