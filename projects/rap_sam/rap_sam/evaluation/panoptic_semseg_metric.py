"""Semantic segmentation mIoU of a panoptic prediction."""
from typing import Optional, Sequence

import torch

from mmdet.evaluation import SemSegMetric
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.registry import METRICS
from .sample_fields import get_field


def panoptic_to_semantic(panoptic: torch.Tensor, num_classes: int,
                         void_label: int = 255) -> torch.Tensor:
    """Class map of a panoptic map in mmdet's encoding.

    Args:
        panoptic (Tensor): Map of ``label + instance_id * INSTANCE_OFFSET``;
            label ``num_classes`` is VOID.
        num_classes (int): Number of classes.
        void_label (int): Label VOID pixels get. Defaults to 255.

    Returns:
        Tensor: The class map (long), same shape.
    """
    labels = panoptic.long() % INSTANCE_OFFSET
    return torch.where(labels >= num_classes,
                       labels.new_tensor(void_label), labels)


@METRICS.register_module()
class PanopticSemSegMetric(SemSegMetric):
    """mmdet's :class:`SemSegMetric` (mIoU) fed by panoptic predictions.

    A sample without ``pred_sem_seg`` gets one from its
    ``pred_panoptic_seg`` (the class of every pixel; VOID pixels count as
    predicted as no class, i.e. wrong unless the ground truth is ignored
    there). The ground truth is ``gt_sem_seg``, which ``PackDetInputs``
    makes from the ``gt_seg_map`` of ``LoadPanopticAnnotations`` (things and
    stuff by class, 255 ignored). ADE20K's semantic mIoU of a panoptic
    model, as Mask2Former reports it, without a second dataset.

    List it BEFORE ``CocoPanopticMetric`` in an evaluator: that metric
    writes VOID (0) into the prediction tensor in place.

    Args:
        void_label (int): Label of VOID predictions. Defaults to 255.
        Other args: see :class:`mmdet.evaluation.SemSegMetric`.
    """
    default_prefix: Optional[str] = 'semseg'

    def __init__(self, *args, void_label: int = 255, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.void_label = void_label

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Derive ``pred_sem_seg`` where missing, then accumulate.

        Args:
            data_batch (dict): A batch of data from the dataloader.
            data_samples (Sequence[dict]): Samples with predictions.
        """
        num_classes = len(self.dataset_meta['classes'])
        samples = []
        for i, sample in enumerate(data_samples):
            if get_field(sample, 'pred_sem_seg') is None:
                pan = get_field(sample, 'pred_panoptic_seg')
                if pan is None:
                    raise ValueError(f'data_samples[{i}] has neither '
                                     'pred_sem_seg nor pred_panoptic_seg')
                sem = panoptic_to_semantic(
                    get_field(pan, 'sem_seg'), num_classes, self.void_label)
                sample = dict(sample, pred_sem_seg=dict(sem_seg=sem))
            samples.append(sample)
        super().process(data_batch, samples)
