"""The RAP-SAM detector: images, video clips and visual prompts."""
from typing import Dict, List, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.detectors import MaskFormer
from mmdet.registry import MODELS
from mmdet.structures import SampleList, TrackDataSample, TrackSampleList
from ..utils.query_linker import QueryLinker
from ..heads.clip_targets import clip_to_frames
from .clip_results import clip_track_instances

Samples = Union[SampleList, TrackSampleList]


@MODELS.register_module()
class RapSAM(MaskFormer):
    """RAP-SAM: one model for panoptic, video and interactive segmentation.

    `RAP-SAM: Towards Real-Time All-Purpose Segment Anything
    <https://arxiv.org/abs/2401.10228>`_. A light backbone, the single-map
    :class:`LiteDeformFPN` neck and the :class:`RapSAMHead` decoder.

    The task follows from the batch:

    - images (N, C, H, W) with :class:`DetDataSample`: panoptic
      segmentation; samples that carry ``prompt_instances`` (``points``
      (P, K, 2) and ``point_labels`` (P, K), and/or ``boxes`` (P, 4), in
      input pixels) are interactive segmentation, and in eval both run in
      one pass unless ``test_cfg.panoptic_on`` is False;
    - clips (N, T, C, H, W) with :class:`TrackDataSample`: video instance
      segmentation, one query per identity across the clip.

    Predictions: ``pred_panoptic_seg`` (and ``pred_instances`` when
    ``test_cfg.instance_on``) for images; ``pred_prompt_instances``
    (``masks`` (P, H, W) bool, ``iou_scores`` (P,)) for prompts;
    ``pred_track_instances`` on every frame for clips.
    """

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: Samples) -> Dict[str, Tensor]:
        """Losses of an image batch (N, C, H, W) or a clip batch
        (N, T, C, H, W)."""
        if batch_inputs.dim() == 5:
            num_frames = batch_inputs.shape[1]
            feats = self.extract_feat(batch_inputs.flatten(0, 1))
            return self.panoptic_head.loss_video(feats, batch_data_samples,
                                                 num_frames)
        feats = self.extract_feat(batch_inputs)
        return self.panoptic_head.loss(feats, batch_data_samples)

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: Samples,
                rescale: bool = True) -> Samples:
        """Predict images or clips; see the class docstring for outputs."""
        if batch_inputs.dim() == 5:
            return self.predict_video(batch_inputs, batch_data_samples,
                                      rescale)
        feats = self.extract_feat(batch_inputs)
        results = self.panoptic_head.predict(feats, batch_data_samples)
        if 'cls_logits' in results:
            fused = self.panoptic_fusion_head.predict(
                results['cls_logits'],
                results['mask_logits'],
                batch_data_samples,
                rescale=rescale)
            self.add_pred_to_datasample(batch_data_samples, fused)
        if 'prompt_mask_logits' in results:
            self._add_prompt_results(batch_data_samples, results, rescale)
        for sample in batch_data_samples:
            if 'prompt_instances' in sample and \
                    'pred_prompt_instances' not in sample:
                h, w = sample.ori_shape[:2] if rescale else \
                    sample.img_shape[:2]
                sample.pred_prompt_instances = InstanceData(
                    masks=batch_inputs.new_zeros(0, h, w, dtype=torch.bool),
                    iou_scores=batch_inputs.new_zeros(0))
        return batch_data_samples

    @staticmethod
    def _add_prompt_results(batch_data_samples: SampleList,
                            results: Dict[str, Tensor],
                            rescale: bool) -> None:
        for i, sample in enumerate(batch_data_samples):
            valid = results['prompt_valid'][i]
            logits = results['prompt_mask_logits'][i][valid]
            h, w = sample.img_shape[:2]
            logits = logits[:, :h, :w]
            if rescale and len(logits):
                logits = F.interpolate(
                    logits[None], size=sample.ori_shape[:2],
                    mode='bilinear', align_corners=False)[0]
            elif rescale:
                logits = logits.new_zeros(0, *sample.ori_shape[:2])
            sample.pred_prompt_instances = InstanceData(
                masks=logits > 0,
                iou_scores=results['prompt_iou'][i][valid])

    def predict_video(self,
                      batch_inputs: Tensor,
                      batch_data_samples: TrackSampleList,
                      rescale: bool = True) -> TrackSampleList:
        """Predict one video (1, T, C, H, W), clip by clip.

        The video is cut into clips of ``test_cfg.clip_length`` frames
        (default: all of it); each clip is decoded as one tall map and the
        queries of consecutive clips are linked by Hungarian matching on the
        adapter's query embeddings (MinVIS). A slot's class probabilities
        are averaged over the clips.
        """
        if batch_inputs.shape[0] != 1:
            raise ValueError('video prediction takes one video per batch, '
                             f'got {batch_inputs.shape[0]}')
        num_frames = batch_inputs.shape[1]
        clip_length = self.test_cfg.get('clip_length', None) or num_frames
        linker = QueryLinker(momentum=0.)
        probs, frame_masks = [], []
        for start in range(0, num_frames, clip_length):
            clip = batch_inputs[0, start:start + clip_length]
            out = self.panoptic_head.predict_video(
                self.extract_feat(clip), len(clip))
            perm = linker.link(out['object_embeds'][0])
            probs.append(out['cls_logits'][0][perm].softmax(-1))
            frame_masks.append(
                clip_to_frames(out['mask_logits'], len(clip))[0][perm])
        track_sample: TrackDataSample = batch_data_samples[0]
        metas = [frame.metainfo for frame in track_sample]
        per_frame = clip_track_instances(
            torch.stack(probs).mean(0).log(), torch.cat(frame_masks, 1),
            metas, self.test_cfg.get('max_per_video', 10), rescale)
        for frame, instances in zip(track_sample, per_frame):
            frame.pred_track_instances = instances
        return batch_data_samples

    def _forward(self, batch_inputs: Tensor,
                 batch_data_samples: Samples) -> Tuple[List[Tensor]]:
        """Raw head outputs (``mode='tensor'``)."""
        if batch_inputs.dim() == 5:
            feats = self.extract_feat(batch_inputs.flatten(0, 1))
            return self.panoptic_head.predict_video(feats,
                                                    batch_inputs.shape[1])
        feats = self.extract_feat(batch_inputs)
        return self.panoptic_head.forward(feats, batch_data_samples)
