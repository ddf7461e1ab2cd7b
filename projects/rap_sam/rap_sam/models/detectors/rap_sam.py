"""The RAP-SAM detector: images, video clips and visual prompts."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.detectors import MaskFormer
from mmdet.registry import MODELS
from mmdet.structures import SampleList, TrackDataSample, TrackSampleList
from ..heads.clip_targets import clip_to_frames
from ..heads.text_classifier import OpenVocabClassifier
from ..utils.query_linker import QueryLinker
from .clip_results import (clip_panoptic_frames,
                           clip_track_instances)
from .dataset_meta import TestVocabularyMeta

Samples = Union[SampleList, TrackSampleList]


@MODELS.register_module()
class RapSAM(TestVocabularyMeta, MaskFormer):
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
    ``pred_track_instances`` on every frame for clips, and
    ``pred_panoptic_seg`` on every frame when ``test_cfg.video_panoptic_on``
    (video panoptic segmentation, ids stable over the video).
    """

    def init_weights(self) -> None:
        """Initialise, loading the backbone's ``Pretrained`` weights first.

        Raises:
            RuntimeError: Naming the checkpoint, when the backbone's
                pretrained weights cannot be loaded (a missing file, or a
                ``torchvision://`` name on a machine without network).
        """
        init_cfg = getattr(self.backbone, 'init_cfg', None)
        if isinstance(init_cfg, dict) and \
                init_cfg.get('type') == 'Pretrained':
            checkpoint = init_cfg.get('checkpoint')
            try:
                self.backbone.init_weights()
            except (OSError, RuntimeError, ValueError) as err:
                raise RuntimeError(
                    'could not load the backbone\'s pretrained weights '
                    f'{checkpoint!r}: {err}. Give a local file with '
                    '--cfg-options model.backbone.init_cfg.checkpoint='
                    'PATH, or train from scratch with --cfg-options '
                    'model.backbone.init_cfg=None') from err
        super().init_weights()

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
        return self.predict_from_feats(
            self.extract_feat(batch_inputs), batch_data_samples, rescale)

    def predict_from_feats(self,
                           feats: Tuple[Tensor],
                           batch_data_samples: SampleList,
                           rescale: bool = True) -> SampleList:
        """Predict images from the features of :meth:`extract_feat`.

        The image part of :meth:`predict`, for callers that decode the same
        features several times (e.g. the click simulation of
        :class:`InteractiveTestLoop`).

        Args:
            feats (tuple[Tensor]): The neck's single map, (B, C, H, W).
            batch_data_samples (list[DetDataSample]): Samples, optionally
                with ``prompt_instances``.
            rescale (bool): Predictions at the original image size.

        Returns:
            list[DetDataSample]: The samples with their predictions.
        """
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
                    masks=feats[0].new_zeros(0, h, w, dtype=torch.bool),
                    iou_scores=feats[0].new_zeros(0))
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
        are averaged over the clips. With ``test_cfg.video_panoptic_on``
        every frame also gets ``pred_panoptic_seg`` (video panoptic
        segmentation, ids stable over the video, see
        :func:`clip_panoptic_frames`).
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
        video_probs = torch.stack(probs).mean(0)
        frame_masks = torch.cat(frame_masks, 1)
        per_frame = clip_track_instances(
            video_probs.log(), frame_masks, metas,
            self.test_cfg.get('max_per_video', 10), rescale)
        for frame, instances in zip(track_sample, per_frame):
            frame.pred_track_instances = instances
        if self.test_cfg.get('video_panoptic_on', False):
            panoptic = clip_panoptic_frames(
                video_probs,
                frame_masks,
                metas,
                self.panoptic_fusion_head.num_things_classes,
                object_mask_thr=self.test_cfg.get('object_mask_thr', 0.8),
                iou_thr=self.test_cfg.get('iou_thr', 0.8),
                filter_low_score=self.test_cfg.get('filter_low_score',
                                                   True),
                rescale=rescale)
            for frame, pan in zip(track_sample, panoptic):
                frame.pred_panoptic_seg = pan
        return batch_data_samples

    def set_test_vocabulary(self,
                            embedding_file: str,
                            num_things_classes: int,
                            num_stuff_classes: int,
                            class_names: Optional[List[str]] = None) -> None:
        """Classify with another vocabulary in eval mode.

        The weights are vocabulary-agnostic: this swaps the head's test
        classifier and the fusion head's thing / stuff split.

        Args:
            embedding_file (str): Class text embedding file.
            num_things_classes (int): Thing classes, listed first.
            num_stuff_classes (int): Stuff classes, listed after them.
            class_names (list[str], optional): Classes to take from the file,
                in label order. Defaults to all of the file's.
        """
        head = self.panoptic_head
        classifier = OpenVocabClassifier(
            embedding_file, class_names, embed_dims=head.classifier.embed_dims)
        if classifier.num_classes != num_things_classes + num_stuff_classes:
            raise ValueError(
                f'{embedding_file}: {classifier.num_classes} classes, but '
                f'{num_things_classes} things + {num_stuff_classes} stuff')
        head.test_classifier = classifier.to(head.classifier.logit_scale)
        fusion = self.panoptic_fusion_head
        fusion.num_things_classes = num_things_classes
        fusion.num_stuff_classes = num_stuff_classes
        fusion.num_classes = num_things_classes + num_stuff_classes

    def _forward(self, batch_inputs: Tensor,
                 batch_data_samples: Samples) -> Tuple[List[Tensor]]:
        """Raw head outputs (``mode='tensor'``)."""
        if batch_inputs.dim() == 5:
            feats = self.extract_feat(batch_inputs.flatten(0, 1))
            return self.panoptic_head.predict_video(feats,
                                                    batch_inputs.shape[1])
        feats = self.extract_feat(batch_inputs)
        return self.panoptic_head.forward(feats, batch_data_samples)
