"""Test loop of interactive segmentation with multi-click refinement."""
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop, autocast
from mmengine.structures import InstanceData

from mmdet.registry import LOOPS
from mmdet.structures import DetDataSample
from ..evaluation.interactive_clicks import evaluate_clicks_batch
from ..evaluation.interactive_metric import InteractiveSegMetric, prompt_modes
from ..evaluation.sample_fields import to_numpy_masks


@LOOPS.register_module()
class InteractiveTestLoop(TestLoop):
    """Single-prompt mIoU and NoC of multi-click refinement in one pass.

    Every batch goes once through the backbone and neck. The features are
    decoded for the samples' own prompts (e.g. one point and one box per
    ground-truth segment, from :class:`GTSegmentPrompts`): the masks that
    :class:`InteractiveSegMetric` scores as mIoU per prompt mode. Then,
    with ``click_refinement``, clicks are simulated on the same cached
    features for every segment: the first click at the segment's most
    interior pixel, each next one at the centre of the largest error
    region, positive on a miss and negative on a false positive
    (:func:`evaluate_clicks_batch`, all segments of an image in one
    decoder pass per round, prompt queries only). The IoU after each click
    goes to the samples as ``click_ious`` and the metric adds NoC@85,
    NoC@90 and mIoU@k.

    The click budget and stopping rule come from the evaluator's
    :class:`InteractiveSegMetric`: at most ``max_clicks`` clicks; a
    segment stops once its IoU reaches the highest NoC threshold after at
    least ``max(miou_clicks)`` clicks (NoC and mIoU@k are then exact).
    Clicks are simulated at the original image size, where the metric
    scores the masks, and given to the model in input pixels.

    The model needs ``extract_feat`` and ``predict_from_feats``
    (:class:`RapSAM`).

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The test dataloader.
        evaluator (Evaluator | dict | list): The evaluator, with an
            :class:`InteractiveSegMetric`.
        fp16 (bool): Autocast to fp16. Defaults to False.
        click_refinement (bool): Simulate clicks. Defaults to True.
    """

    def __init__(self,
                 runner,
                 dataloader,
                 evaluator,
                 fp16: bool = False,
                 click_refinement: bool = True) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        self.click_refinement = click_refinement
        metric = self._interactive_metric()
        if click_refinement and metric is None:
            raise ValueError('InteractiveTestLoop with click_refinement '
                             'needs an InteractiveSegMetric in the test '
                             'evaluator')
        if metric is not None:
            self.max_clicks = metric.max_clicks
            self.stop_iou: Optional[float] = max(
                metric.noc_thresholds) if metric.noc_thresholds else None
            self.min_clicks = max(metric.miou_clicks, default=1)

    def _interactive_metric(self) -> Optional[InteractiveSegMetric]:
        for metric in self.evaluator.metrics:
            if isinstance(metric, InteractiveSegMetric):
                return metric
        return None

    @property
    def _model(self) -> torch.nn.Module:
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    @torch.no_grad()
    def run_iter(self, idx: int, data_batch: Sequence[dict]) -> None:
        """Predict the batch's prompts, simulate clicks and evaluate.

        Args:
            idx (int): Index of the batch.
            data_batch (Sequence[dict]): Batch from the dataloader.
        """
        self.runner.call_hook(
            'before_test_iter', batch_idx=idx, data_batch=data_batch)
        model = self._model
        with autocast(enabled=self.fp16):
            data = model.data_preprocessor(data_batch, False)
            feats = model.extract_feat(data['inputs'])
            outputs = model.predict_from_feats(feats, data['data_samples'])
            if self.click_refinement:
                for i, sample in enumerate(outputs):
                    sample.click_ious = self.simulate_clicks(
                        model, tuple(f[i:i + 1] for f in feats), sample)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook(
            'after_test_iter',
            batch_idx=idx,
            data_batch=data_batch,
            outputs=outputs)

    def simulate_clicks(self, model: torch.nn.Module,
                        feats: Sequence[torch.Tensor],
                        sample: DetDataSample) -> List[np.ndarray]:
        """Click on every segment of one image until it is segmented.

        The segments are the ground-truth masks of the sample's point
        prompts (of all its prompts when it has none), at the original
        size.

        Args:
            model (nn.Module): The model.
            feats (Sequence[Tensor]): The image's features, batch of one.
            sample (DetDataSample): The image's sample, with
                ``gt_instances.masks`` and ``prompt_instances``.

        Returns:
            list[np.ndarray]: Per segment, the IoU after each click.
        """
        gt_masks = to_numpy_masks(sample.gt_instances.masks)
        modes = prompt_modes(sample.get('prompt_instances'), len(gt_masks))
        points_only = [i for i, m in enumerate(modes) if m == 'point']
        if points_only:
            gt_masks = gt_masks[points_only]
        if len(gt_masks) == 0:
            return []
        meta = sample.metainfo
        scale_w, scale_h = meta.get('scale_factor', (1., 1.))
        scale = np.array([scale_w, scale_h], np.float32)
        device = feats[0].device

        def predict(points: np.ndarray, labels: np.ndarray,
                    index: np.ndarray) -> np.ndarray:
            query = DetDataSample(metainfo=meta)
            query.prompt_instances = InstanceData(
                points=torch.from_numpy((points + 0.5) * scale).to(device),
                point_labels=torch.from_numpy(labels).to(device))
            out = model.predict_from_feats(
                feats, [query], with_objects=False)[0]
            return to_numpy_masks(out.pred_prompt_instances.masks)

        return evaluate_clicks_batch(predict, gt_masks, self.max_clicks,
                                     self.stop_iou, self.min_clicks)
