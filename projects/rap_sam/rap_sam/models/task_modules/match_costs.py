"""Match costs of the Hungarian assigner."""
import torch
from torch import Tensor

from mmdet.models.task_modules import CrossEntropyLossCost
from mmdet.registry import TASK_UTILS

# sigmoid(-80) = 1.8e-35 is still a normal float32, so its log is exact.
_LOG_SIGMOID_FLOOR = -80.


@TASK_UTILS.register_module()
class BinaryCrossEntropyCost(CrossEntropyLossCost):
    """:class:`CrossEntropyLossCost` (``use_sigmoid=True``) from one
    log-sigmoid pass.

    The cost of query n against target m is the mean over points c of
    ``softplus(-x_nc) g_mc + softplus(x_nc) (1 - g_mc)``. As
    ``softplus(x) = softplus(-x) + x``, that is
    ``(sum_c softplus(-x_nc) + sum_c x_nc (1 - g_mc)) / n_points``: one
    softplus of the predictions, summed per query, and one matrix product,
    instead of two full softplus maps. ``softplus(-x)`` is computed as
    ``-log(sigmoid(x))`` (``-x`` below -80): torch's ``softplus`` and
    ``log_sigmoid`` use a scalar ``log1p`` on CPU, about 8x slower.

    Values equal mmdet's within float32 rounding (the tests compare them).

    Args:
        use_sigmoid (bool): Must be True (the binary cost).
        weight (float): Cost weight. Defaults to 1.
    """

    def __init__(self, use_sigmoid: bool = True, weight: float = 1.) -> None:
        if not use_sigmoid:
            raise ValueError('BinaryCrossEntropyCost is the use_sigmoid=True '
                             'cost; use CrossEntropyLossCost otherwise')
        super().__init__(use_sigmoid=True, weight=weight)

    def _binary_cross_entropy(self, cls_pred: Tensor,
                              gt_labels: Tensor) -> Tensor:
        """
        Args:
            cls_pred (Tensor): Logits, (num_queries, *).
            gt_labels (Tensor): Targets in [0, 1], (num_gt, *).

        Returns:
            Tensor: Cost matrix, (num_queries, num_gt).
        """
        cls_pred = cls_pred.flatten(1).float()
        gt_labels = gt_labels.flatten(1).float()
        clamped = cls_pred.clamp(min=_LOG_SIGMOID_FLOOR)
        positive = (clamped - cls_pred).sum(1) - torch.sigmoid(
            clamped).log_().sum(1)
        cost = positive[:, None] + cls_pred @ (1 - gt_labels).t()
        return cost / cls_pred.shape[1]
