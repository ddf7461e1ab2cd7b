"""mmdet's YouTube-VIS metric, made to run on NumPy >= 1.24."""
from contextlib import contextmanager
from typing import Dict, Iterator, List

import numpy as np

from mmdet.evaluation import YouTubeVISMetric
from mmdet.registry import METRICS


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
    """:class:`mmdet.evaluation.YouTubeVISMetric` that runs on NumPy 2.

    Identical arguments, data samples and results; only
    :meth:`compute_metrics` runs inside :func:`numpy_float_alias`. Use it
    in configs in place of ``YouTubeVISMetric`` while mmdet still uses
    ``np.float``.
    """

    def compute_metrics(self, results: List) -> Dict[str, float]:
        """See :meth:`YouTubeVISMetric.compute_metrics`."""
        with numpy_float_alias():
            return super().compute_metrics(results)
