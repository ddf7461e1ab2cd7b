"""Latency, FLOPs and peak memory of one callable."""
import contextlib
import os
import resource
import statistics
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from rap_sam.utils import malloc_bytes_in_use


def sync(device: str) -> None:
    """Wait for the device's queued work (no-op on CPU)."""
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def summarize(times: Sequence[float]) -> Dict[str, float]:
    """Median, interquartile range and FPS of run times in seconds.

    Args:
        times (Sequence[float]): One entry per timed run.

    Returns:
        dict[str, float]: ``median_s``, ``iqr_s`` (Q3 - Q1, 0 for one run),
        ``fps`` (1 / median) and ``runs``.
    """
    times = list(times)
    median = statistics.median(times)
    if len(times) > 1:
        q1, _, q3 = statistics.quantiles(times, n=4, method='inclusive')
        iqr = q3 - q1
    else:
        iqr = 0.
    return dict(
        median_s=median, iqr_s=iqr, fps=1. / median, runs=len(times))


def time_it(fn: Callable[[], object],
            device: str = 'cpu',
            repeat: int = 5,
            warmup: int = 1) -> Dict[str, float]:
    """Time ``fn`` after ``warmup`` untimed calls.

    Args:
        fn (Callable): The work of one run.
        device (str): Device synchronised around each run.
        repeat (int): Timed runs.
        warmup (int): Untimed runs first.

    Returns:
        dict[str, float]: see :func:`summarize`, plus ``times_s``.
    """
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return dict(summarize(times), times_s=times)


def _deform_conv_hooks(modules: Sequence[nn.Module], extra: List[int]):
    """FLOPs of torchvision's deformable conv, which FlopCounterMode skips.

    The ``'grid_sample'`` kernel runs as aten ops that the counter sees
    (its matmul), so only the ``'torchvision'`` kernel is counted here.
    """
    from rap_sam.models.layers import ModulatedDeformConv2d

    def hook(module, inputs, output):
        if module.impl != 'torchvision':
            return
        n, c_out, h, w = output.shape
        extra[0] += 2 * n * c_out * h * w * module.weight[0].numel()

    return [
        m.register_forward_hook(hook) for root in modules
        for m in root.modules() if isinstance(m, ModulatedDeformConv2d)
    ]


def _packed_linear_flops(input_shape, weight_shape, *args, out_shape=None,
                         **kwargs) -> int:
    """oneDNN's packed linear (:class:`PixelFeatures`): (M, K) x (K, N)."""
    rows = 1
    for size in input_shape[:-1]:
        rows *= size
    return 2 * rows * input_shape[-1] * out_shape[-1]


_EXTRA_FLOPS = {}
if hasattr(torch.ops.mkldnn, '_linear_pointwise'):
    _EXTRA_FLOPS[torch.ops.mkldnn._linear_pointwise] = _packed_linear_flops


def count_flops(fn: Callable[[], object],
                modules: Sequence[nn.Module] = ()) -> float:
    """FLOPs of one call of ``fn``.

    Counts aten ops with :class:`FlopCounterMode` (matmuls, convolutions,
    attention, and oneDNN's packed linear) plus the deformable convs of
    ``modules`` run on torchvision's kernel. Elementwise ops, interpolation
    and sampling are not counted (as in fvcore and mmengine's counters).

    Args:
        fn (Callable): The work of one run.
        modules (Sequence[nn.Module]): Models whose deformable convs are
            added.

    Returns:
        float: FLOPs (a multiply-add counts 2).
    """
    extra = [0]
    hooks = _deform_conv_hooks(modules, extra)
    counter = FlopCounterMode(display=False, custom_mapping=_EXTRA_FLOPS)
    try:
        with counter:
            fn()
    finally:
        for h in hooks:
            h.remove()
    return float(counter.get_total_flops() + extra[0])


def _rss_bytes() -> Optional[int]:
    """Resident set size of this process, from /proc (Linux)."""
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return None


class PeakMemory:
    """Peak memory that a block of work adds on top of what it starts with.

    On CUDA this is ``torch.cuda.max_memory_allocated`` (tensors of the
    caching allocator) above the allocation at entry. On the CPU, where
    ``tracemalloc`` does not see torch's allocations, a thread samples
    every ``interval`` seconds the bytes glibc's malloc has handed out
    (``mallinfo2``: torch's CPU tensors come from malloc), or without glibc
    the process's resident set size, which misses memory reused from
    freed blocks (:func:`rap_sam.utils.keep_freed_memory` keeps them);
    without /proc the ``ru_maxrss`` high-water mark is used, which only
    shows growth past the process's previous peak.

    Args:
        device (str): 'cpu' or a CUDA device.
        interval (float): RSS sampling period in seconds. Defaults to 1 ms.

    Example:
        >>> with PeakMemory('cpu') as mem:
        ...     work()
        >>> mem.peak_mb
    """

    def __init__(self, device: str = 'cpu', interval: float = 1e-3) -> None:
        self.device = device
        self.interval = interval
        self.peak_bytes = 0
        self.method = ''
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def peak_mb(self) -> float:
        """The peak increase in MiB."""
        return self.peak_bytes / 2**20

    def _sample(self) -> None:
        while not self._stop.is_set():
            used = self._read()
            if used is not None:
                self._max = max(self._max, used)
            time.sleep(self.interval)

    def __enter__(self) -> 'PeakMemory':
        if self.device.startswith('cuda'):
            sync(self.device)
            self.method = 'cuda.max_memory_allocated'
            self._base = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        self._read = malloc_bytes_in_use
        self.method = 'malloc in use'
        if malloc_bytes_in_use() is None:
            self._read = _rss_bytes
            self.method = 'rss sampling'
        self._base = self._read()
        if self._base is None:
            self.method = 'ru_maxrss'
            self._base = resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss * 1024
            return self
        self._max = self._base
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.method == 'cuda.max_memory_allocated':
            sync(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        elif self.method == 'ru_maxrss':
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        else:
            self._stop.set()
            self._thread.join()
            peak = max(self._max, self._read() or 0)
        self.peak_bytes = max(0, peak - self._base)


def measure_task(task,
                 opts,
                 repeat: int = 5,
                 warmup: int = 1,
                 flops: bool = True) -> Dict[str, object]:
    """FLOPs, peak memory and latency of one :class:`Task`.

    The first untimed run also counts FLOPs (not with ``opts.compile``:
    the compiled graphs are not traced by the counter, and the eager FLOPs
    are the same; not in int8, whose backbone runs in ONNX Runtime, out of
    the counter's sight); peak memory is that of the last untimed run; then
    ``repeat`` runs are timed. Every run is under the ``context()``
    (no_grad, autocast) of the task's own options (``task.opts``), or of
    ``opts`` for a task without.

    Args:
        task (Task): The work.
        opts (RunOptions): Device and precision of tasks without their
            own.
        repeat (int): Timed runs.
        warmup (int): Untimed runs first (at least 1).
        flops (bool): Count FLOPs.

    Returns:
        dict: The row: task fields, ``precision``, :func:`summarize`'s
        statistics, ``times_s``, ``gflops`` and ``peak_mb``.
    """
    return measure_tasks([task], opts, repeat, warmup, flops)[0]


def measure_tasks(tasks: Sequence,
                  opts,
                  repeat: int = 5,
                  warmup: int = 1,
                  flops: bool = True,
                  repeats: Optional[Sequence[int]] = None,
                  on_row: Optional[Callable[[Dict], None]] = None,
                  on_round: Optional[Callable[[int, List[Dict]], None]] = None
                  ) -> List[Dict[str, object]]:
    """:func:`measure_task` for many tasks, timed in interleaved rounds.

    Each task is first warmed up (FLOPs and peak memory as in
    :func:`measure_task`); then round ``r`` times one run of every task
    that still needs runs. On a machine shared with other work, a burst of
    load then slows every task of a round instead of a few tasks' runs, so
    the ratios between tasks (and models, and a model's precisions) hold
    better than with tasks timed one after the other.

    Args:
        tasks (Sequence[Task]): The work.
        opts (RunOptions): Device and precision of tasks without their
            own (``task.opts``).
        repeat (int): Timed runs per task.
        warmup (int): Untimed runs per task first (at least 1).
        flops (bool): Count FLOPs.
        repeats (Sequence[int], optional): Timed runs of each task,
            overriding ``repeat``.
        on_row (Callable, optional): Called with each task's row after its
            warm-up (timing fields not yet filled) for progress output.
        on_round (Callable, optional): Called with the round index and the
            rows (``times_s`` so far) after each round, e.g. to save
            partial results of a long run.

    Returns:
        list[dict]: One row per task, as :func:`measure_task`.
    """
    warmup = max(1, warmup)
    repeats = list(repeats) if repeats is not None else [repeat] * len(tasks)
    rows = []
    for task in tasks:
        run_opts = task.opts or opts
        gflops = float('nan')
        count = flops and not run_opts.compile and run_opts.dtype != 'int8'
        for i in range(warmup):
            mem = PeakMemory(run_opts.device)
            with run_opts.context(), \
                    mem if i == warmup - 1 else contextlib.nullcontext():
                if i == 0 and count:
                    gflops = count_flops(task.fn, task.modules) / 1e9
                else:
                    task.fn()
        rows.append(
            dict(
                model=task.model,
                task=task.name,
                key=task.key,
                shape=list(task.shape),
                compare_to=task.compare_to,
                note=task.note,
                precision=run_opts.dtype,
                gflops=gflops,
                peak_mb=mem.peak_mb,
                memory_method=mem.method,
                times_s=[]))
        if on_row:
            on_row(rows[-1])
    for r in range(max(repeats, default=0)):
        for task, row, n in zip(tasks, rows, repeats):
            if r >= n:
                continue
            run_opts = task.opts or opts
            with run_opts.context():
                sync(run_opts.device)
                start = time.perf_counter()
                task.fn()
                sync(run_opts.device)
                row['times_s'].append(time.perf_counter() - start)
        if on_round:
            on_round(r, rows)
    for row in rows:
        row.update(summarize(row['times_s']))
    return rows
