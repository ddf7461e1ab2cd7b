"""mmdet's YouTube-VIS metric, made to run on NumPy >= 1.24, evaluating
or writing the server submission by itself."""
import os
import os.path as osp
import tempfile
import zipfile
from collections import defaultdict
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
from mmengine.logging import MMLogger

from mmdet.evaluation import YouTubeVISMetric
from mmdet.registry import METRICS
from ..utils.atomic_io import dump_json_atomic


@contextmanager
def numpy_float_alias() -> Iterator[None]:
    """Provide ``np.float`` for the duration of a block.

    mmdet 3.3's ``YTVISeval.accumulate`` still calls ``astype(np.float)``,
    an alias NumPy 1.24 removed; without it every YouTube-VIS evaluation
    ends in ``AttributeError``. The alias (the builtin ``float``, as it
    was) is added only when missing and removed again afterwards.
    """
    added = not hasattr(np, 'float')
    if added:
        np.float = float
    try:
        yield
    finally:
        if added:
            del np.float


@METRICS.register_module()
class YouTubeVISCompatMetric(YouTubeVISMetric):
    """:class:`mmdet.evaluation.YouTubeVISMetric` that runs on NumPy 2,
    evaluates or formats for the server by itself and writes atomically.

    Same data samples and results as mmdet's metric; the differences:

    - :meth:`compute_metrics` runs inside :func:`numpy_float_alias`;
    - ``format_only=None`` (the default here) decides per run: mAP when
      the videos carry ground truth (``instances`` in the frames' metainfo,
      e.g. a train split or converted data), else the server submission
      (YouTube-VIS 2019 valid / test have no annotations). mmdet's
      ``format_only=True`` returns no metric and writes
      ``<outfile_prefix>.json`` plus ``<outfile_prefix>.submission_file.zip``
      (``results.json`` inside); with ``outfile_prefix=None`` it writes them
      to a temporary folder that is deleted at once. Here a missing prefix
      falls back to ``./youtube_vis_results`` (with a warning);
    - both files are written to a temporary name and renamed, so a reader
      never sees half a file; the zip's path is kept in
      ``submission_file``;
    - it can evaluate more than once (mmdet's fails the second time).

    Args:
        format_only (bool, optional): True: only write the submission;
            False: only evaluate; None: evaluate when there is ground
            truth, else write the submission. Defaults to None.
        Other args: see :class:`mmdet.evaluation.YouTubeVISMetric`.
    """

    def __init__(self,
                 metric: Union[str, List[str]] = 'youtube_vis_ap',
                 metric_items: Optional[Sequence[str]] = None,
                 outfile_prefix: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 format_only: Optional[bool] = None) -> None:
        super().__init__(
            metric=metric,
            metric_items=metric_items,
            outfile_prefix=outfile_prefix,
            collect_device=collect_device,
            prefix=prefix,
            format_only=bool(format_only))
        self.format_mode = format_only
        self.submission_file: Optional[str] = None

    def compute_metrics(self, results: List) -> Dict[str, float]:
        """mAP, or ``{}`` after writing the submission (see the class).

        Args:
            results (list): Per video, its formatted predictions and
                ground-truth tracks.

        Returns:
            dict[str, float]: ``segm_mAP`` etc. in [0, 1], or ``{}``.
        """
        has_gt = any(len(gts) for _, gts in results)
        self.format_only = not has_gt if self.format_mode is None else \
            self.format_mode
        if not self.format_only and not has_gt:
            MMLogger.get_current_instance().warning(
                'YouTubeVISCompatMetric: the videos have no ground truth; '
                'every mAP is -1. Set format_only=None or True to write the '
                'server submission instead.')
        with numpy_float_alias():
            return super().compute_metrics(results)

    def evaluate(self, size: int) -> dict:
        """See :meth:`YouTubeVISMetric.evaluate`; the metric can then be
        used again.

        mmdet's ``evaluate`` leaves ``_vis_meta_info`` a plain empty dict,
        so a second evaluation (a second test run, validation after every
        epoch) fails with ``KeyError: 'images'``; here it is reset to the
        ``defaultdict`` that ``__init__`` makes.
        """
        try:
            return super().evaluate(size)
        finally:
            self._vis_meta_info = defaultdict(list)

    def save_pred_results(self, pred_results: List) -> None:
        """Write ``<prefix>.json`` and ``<prefix>.submission_file.zip``
        (``results.json`` inside) atomically.

        Args:
            pred_results (list): Predictions in the YouTube-VIS result
                format (one dict per predicted track).
        """
        logger = MMLogger.get_current_instance()
        prefix = self.outfile_prefix
        if prefix is None:
            prefix = osp.abspath('youtube_vis_results')
            logger.warning('YouTubeVISCompatMetric: no outfile_prefix; '
                           f'writing the submission to {prefix}.*')
        folder = osp.dirname(osp.abspath(prefix))
        os.makedirs(folder, exist_ok=True)
        json_file = f'{prefix}.json'
        zip_file = f'{prefix}.submission_file.zip'
        dump_json_atomic(pred_results, json_file)
        fd, tmp = tempfile.mkstemp(
            prefix=f'.{osp.basename(zip_file)}.', suffix='.tmp', dir=folder)
        os.close(fd)
        try:
            with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as zf:
                zf.write(json_file, 'results.json')
            os.chmod(tmp, 0o644)
            os.replace(tmp, zip_file)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise
        self.submission_file = zip_file
        logger.info(f'YouTube-VIS results written to {json_file}; submit '
                    f'{zip_file} to the evaluation server')
