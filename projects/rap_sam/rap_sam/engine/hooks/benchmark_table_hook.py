"""One markdown table of a test run: every metric with its throughput."""
import math
import os.path as osp
import time
from numbers import Number
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.dist import all_gather_object, is_main_process
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ...utils.atomic_io import dump_json_atomic

# Task of a metric, by the name of its class or of a base class.
TASK_OF_METRIC = (
    ('CocoPanopticMetric', 'panoptic'),
    ('CocoMetric', 'instance'),
    ('YouTubeVISMetric', 'video instance'),
    ('VideoPanopticMetric', 'video panoptic'),
    ('InteractiveSegMetric', 'interactive'),
    ('SemSegMetric', 'semantic'),
)
# Metrics whose values are fractions in [0, 1]: shown in percent, like
# every other metric of the table (-1, "no ground truth", is kept).
FRACTION_METRICS = ('CocoMetric', 'YouTubeVISMetric')
COLUMNS = ('task', 'dataset', 'metric', 'value', 'images/s')


def _class_names(obj: Any) -> List[str]:
    return [cls.__name__ for cls in type(obj).__mro__]


def metric_task(metric: Any) -> str:
    """The task of a metric object (``'other'`` when unknown)."""
    names = _class_names(metric)
    for cls_name, task in TASK_OF_METRIC:
        if cls_name in names:
            return task
    return 'other'


def count_images(outputs: Optional[Sequence[Any]]) -> int:
    """Images in a test batch's outputs: frames of a video sample (a
    ``TrackDataSample``), else one per sample."""
    if not outputs:
        return 0
    total = 0
    for sample in outputs:
        frames = getattr(sample, 'video_data_samples', None)
        total += len(frames) if frames is not None else 1
    return total


def benchmark_rows(metrics: Dict[str, Any],
                   metric_objects: Sequence[Any],
                   dataset: str,
                   images_per_s: float) -> List[Dict[str, Any]]:
    """Table rows of a test run's metrics.

    Args:
        metrics (dict): ``runner.test()``'s result, keys ``prefix/name``.
        metric_objects (Sequence): The evaluator's metrics, giving each
            prefix its task (see ``TASK_OF_METRIC``) and scale.
        dataset (str): Dataset column.
        images_per_s (float): Throughput column.

    Returns:
        list[dict]: ``task``, ``dataset``, ``metric``, ``value`` (float in
        percent for AP / PQ / IoU style metrics, as the metric gives it
        otherwise; a str for a written file) and ``images_per_s``, in the
        order of the evaluator's metrics. Non-numeric values (mmdet's
        ``*_copypaste`` strings) are left out.
    """
    rows, used = [], set()

    def add(task: str, name: str, value: Any, fraction: bool) -> None:
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if not isinstance(value, Number) or isinstance(value, bool):
            return
        value = float(value)
        if fraction and value >= 0:
            value *= 100
        rows.append(
            dict(
                task=task,
                dataset=dataset,
                metric=name,
                value=value,
                images_per_s=images_per_s))

    for metric in metric_objects:
        task = metric_task(metric)
        fraction = any(n in _class_names(metric) for n in FRACTION_METRICS)
        prefix = getattr(metric, 'prefix', None)
        for key, value in metrics.items():
            if key in used:
                continue
            if prefix:
                if not key.startswith(prefix + '/'):
                    continue
                name = key[len(prefix) + 1:]
            elif '/' in key:
                continue
            else:
                name = key
            used.add(key)
            add(task, name, value, fraction)
        submission = getattr(metric, 'submission_file', None)
        if submission:
            rows.append(
                dict(
                    task=task,
                    dataset=dataset,
                    metric='submission',
                    value=submission,
                    images_per_s=images_per_s))
    for key, value in metrics.items():
        if key not in used:
            add('other', key, value, False)
    return rows


COUNT_METRICS = ('num_', 'NoF@')


def _format(value: Any, metric: str = '') -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if metric.startswith(COUNT_METRICS) and value.is_integer():
            return str(int(value))
        return f'{value:.2f}'
    return str(value)


def _jsonable(value: Any) -> Any:
    """A metric value as a JSON value (numpy / torch scalars to Python)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, Number):
        return int(value) if isinstance(value, int) else float(value)
    return str(value)


def markdown_table(rows: Sequence[Dict[str, Any]]) -> str:
    """The rows as one markdown table (task, dataset, metric, value,
    images/s)."""
    lines = ['| ' + ' | '.join(COLUMNS) + ' |',
             '|' + '|'.join(['---'] * 3 + ['---:'] * 2) + '|']
    for row in rows:
        cells = (row['task'], row['dataset'], row['metric'],
                 _format(row['value'], row['metric']),
                 _format(row['images_per_s']))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


@HOOKS.register_module()
class BenchmarkTableHook(Hook):
    """Time the test loop and print all metrics as one markdown table.

    Counts the images of every test batch (the frames of a video) and the
    wall time from the start of the test epoch to the end of the last
    iteration (data loading, model, post-processing and the metrics'
    per-batch processing; not the final metric computation), with CUDA
    synchronised. After the test epoch the metrics become one table
    (task, dataset, metric, value, images/s; see :func:`benchmark_rows`),
    printed on the main process and, with ``out_file``, written as JSON
    atomically. The rows stay in ``rows``, the table in ``table``.

    Args:
        dataset_name (str, optional): Dataset column. Defaults to the test
            dataset's type and annotation file.
        out_file (str, optional): JSON file of the rows, the raw metrics and
            the timing. Defaults to None.
        print_table (bool): Print the table. Defaults to True.
    """

    priority = 'LOWEST'

    def __init__(self,
                 dataset_name: Optional[str] = None,
                 out_file: Optional[str] = None,
                 print_table: bool = True) -> None:
        self.dataset_name = dataset_name
        self.out_file = out_file
        self.print_table = print_table
        self.rows: List[Dict[str, Any]] = []
        self.table = ''
        self.timing: Dict[str, float] = {}
        self._reset()

    def _reset(self) -> None:
        self._images = 0
        self._start: Optional[float] = None
        self._end: Optional[float] = None

    @staticmethod
    def _now() -> float:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        return time.perf_counter()

    def before_test_epoch(self, runner) -> None:
        """Start the clock."""
        self._reset()
        self._start = self._now()

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Any = None,
                        outputs: Optional[Sequence[Any]] = None) -> None:
        """Count the batch's images and stop the clock."""
        self._images += count_images(outputs)
        self._end = self._now()

    def _dataset_name(self, runner) -> str:
        if self.dataset_name:
            return self.dataset_name
        cfg = runner.cfg.get('test_dataloader', {}).get('dataset', {})
        name = str(cfg.get('type', 'dataset'))
        if cfg.get('ann_file'):
            name += f' ({osp.basename(str(cfg["ann_file"]))})'
        return name

    def after_test_epoch(self,
                         runner,
                         metrics: Optional[Dict[str, Any]] = None) -> None:
        """Build, print and save the table."""
        images = sum(all_gather_object(self._images))
        seconds = 0. if self._end is None else self._end - self._start
        images_per_s = images / seconds if seconds > 0 else 0.
        self.timing = dict(
            images=images, seconds=seconds, images_per_s=images_per_s)
        self.rows = benchmark_rows(metrics or {},
                                   runner.test_loop.evaluator.metrics,
                                   self._dataset_name(runner), images_per_s)
        self.table = markdown_table(self.rows)
        if not is_main_process():
            return
        if self.print_table:
            print(self.table, flush=True)
        if self.out_file:
            dump_json_atomic(
                dict(
                    config=getattr(runner.cfg, 'filename', None),
                    checkpoint=runner.cfg.get('load_from'),
                    rows=self.rows,
                    metrics={
                        k: _jsonable(v)
                        for k, v in (metrics or {}).items()
                    },
                    timing=self.timing), self.out_file)
            runner.logger.info(f'benchmark table written to {self.out_file}')
