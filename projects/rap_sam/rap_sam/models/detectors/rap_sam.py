"""The RAP-SAM detector: images, video clips and visual prompts."""
from dataclasses import astuple
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmengine.config import ConfigDict
from torch import Tensor

from mmdet.models.detectors import MaskFormer
from mmdet.registry import MODELS
from mmdet.structures import SampleList, TrackDataSample, TrackSampleList
from mmdet.utils import OptConfigType
from ..layers import FactoredMap
from ..heads.clip_targets import clip_to_frames
from ..heads.rap_sam_head import tracing
from ..heads.text_classifier import OpenVocabClassifier
from ..heads.video_track_state import VideoTrackState
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
      one pass unless ``test_cfg.panoptic_on`` and ``instance_on`` are
      both False;
    - clips (N, T, C, H, W) with :class:`TrackDataSample`: video instance
      segmentation, one query per identity across the clip.

    Predictions: ``pred_panoptic_seg`` (and ``pred_instances`` when
    ``test_cfg.instance_on``) for images; ``pred_prompt_instances``
    (``masks`` (P, H, W) bool, ``iou_scores`` (P,)) for prompts;
    ``pred_track_instances`` on every frame for clips, and
    ``pred_panoptic_seg`` on every frame when ``test_cfg.video_panoptic_on``
    (video panoptic segmentation, ids stable over the video).

    Args:
        factored_map (bool): Decode the neck's map in its factored form
            (:meth:`extract_feat`). Defaults to True.
        *args, **kwargs: Those of :class:`MaskFormer`.
    """

    def __init__(self, *args, panoptic_head: OptConfigType = None,
                 panoptic_fusion_head: OptConfigType = None,
                 factored_map: bool = True,
                 **kwargs) -> None:
        test_classifier = (panoptic_head or {}).get('test_classifier')
        if test_classifier and panoptic_fusion_head:
            # Random test embeddings (for inspection) need the size of the
            # test vocabulary, which the fusion head holds.
            panoptic_head = ConfigDict(
                panoptic_head,
                test_classifier=dict(
                    dict(num_classes=panoptic_fusion_head.get(
                        'num_things_classes', 0) + panoptic_fusion_head.get(
                            'num_stuff_classes', 0)), **test_classifier))
        super().__init__(*args, panoptic_head=panoptic_head,
                         panoptic_fusion_head=panoptic_fusion_head,
                         **kwargs)
        self.factored_map = factored_map

    def extract_feat(self,
                     batch_inputs: Tensor,
                     factored: Optional[bool] = None
                     ) -> Tuple[Union[Tensor, FactoredMap]]:
        """The backbone and the neck: the neck's single stride-4 map.

        Factored, the map is the neck's thin basis and the 1x1 projection
        that widens it (:meth:`LiteDeformFPN.forward`): the
        decoder then takes its products with 136 channels a pixel instead
        of 256 (forward and backward), with the same values and gradients
        up to the order of the sums, and the 256-channel map is never
        written. The measured gains are in the project README ("The
        neck's map, factored").

        Args:
            batch_inputs (Tensor): (N, 3, H, W) images.
            factored (bool, optional): Return the map factored. Defaults
                to: with ``factored_map``, outside tracing and export
                (whose graphs keep the map), when the neck can
                (``factors_map``).

        Returns:
            tuple[Tensor | FactoredMap]: The (N, C, H / 4, W / 4) map.
        """
        can_factor = getattr(self.neck, 'factors_map', False)
        if factored is None:
            factored = self.factored_map and can_factor and not tracing()
        elif factored and not can_factor:
            raise ValueError(f'{type(self.neck).__name__} cannot give its '
                             'map factored')
        x = self.backbone(batch_inputs)
        if factored:
            return self.neck(x, factored=True)
        return self.neck(x)

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

    def predict_from_feats(
            self,
            feats: Tuple[Tensor],
            batch_data_samples: SampleList,
            rescale: bool = True,
            with_objects: Optional[bool] = None,
            prompt_kv: Optional[Tuple[Tensor, Tensor]] = None,
            instance_on: Optional[bool] = None
    ) -> SampleList:
        """Predict images from the features of :meth:`extract_feat`.

        The image part of :meth:`predict`, for callers that decode the same
        features several times (a predictor re-prompting an image, the
        click simulation of :class:`InteractiveTestLoop`).

        Args:
            feats (tuple[Tensor]): The neck's single map, (B, C, H, W).
            batch_data_samples (list[DetDataSample]): Samples, optionally
                with ``prompt_instances``.
            rescale (bool): Predictions at the original image size.
            with_objects (bool, optional): Decode the object queries (for
                panoptic / instance results). Defaults to
                ``test_cfg.panoptic_on or test_cfg.instance_on``.
            prompt_kv (tuple[Tensor], optional): The prompt adapter's cached
                pixel keys and values of ``feats``
                (:meth:`PromptAdapter.pixel_kv`).
            instance_on (bool, optional): Instance results too (about 50
                full-size masks). Defaults to ``test_cfg.instance_on``;
                a caller that shows the panoptic map only passes False.

        Returns:
            list[DetDataSample]: The samples with their predictions.
        """
        fusion = self.panoptic_fusion_head
        if with_objects is None:
            with_objects = fusion.options.panoptic_on or \
                fusion.options.instance_on
        preds = self.panoptic_head.predict(feats, batch_data_samples,
                                           with_objects, prompt_kv)
        if preds.objects is not None and with_objects:
            fused = fusion.predict(
                preds.objects.cls_logits,
                preds.objects.mask_logits,
                batch_data_samples,
                rescale=rescale,
                instance_on=instance_on)
            self.add_pred_to_datasample(batch_data_samples, fused)
        prompt_results = fusion.predict_prompts(preds.prompts,
                                                batch_data_samples, rescale)
        for sample, result in zip(batch_data_samples, prompt_results):
            if result is not None:
                sample.pred_prompt_instances = result
        return batch_data_samples

    def predict_video(self,
                      batch_inputs: Tensor,
                      batch_data_samples: TrackSampleList,
                      rescale: bool = True) -> TrackSampleList:
        """Predict one video (1, T, C, H, W), clip by clip.

        The video is cut into clips of ``test_cfg.clip_length`` frames
        (default: all of it); each clip is decoded as one tall map, its
        queries are put in the video's slot order and the slots' class
        probabilities averaged (:class:`VideoTrackState`, with
        ``test_cfg.link_momentum``); :meth:`RapSAMFusionHead.predict_video`
        makes the per-frame results. Streaming (``VideoPredictor``) runs
        the same steps with clips of one frame.
        """
        if batch_inputs.shape[0] != 1:
            raise ValueError('video prediction takes one video per batch, '
                             f'got {batch_inputs.shape[0]}')
        num_frames = batch_inputs.shape[1]
        options = self.panoptic_fusion_head.options
        clip_length = options.clip_length or num_frames
        state = VideoTrackState(options.link_momentum)
        frame_masks = []
        for start in range(0, num_frames, clip_length):
            clip = batch_inputs[0, start:start + clip_length]
            objects = state.link(
                self.panoptic_head.predict_video(
                    self.extract_feat(clip), len(clip)))
            frame_masks.append(
                clip_to_frames(objects.mask_logits, len(clip))[0])
        track_sample: TrackDataSample = batch_data_samples[0]
        results = self.panoptic_fusion_head.predict_video(
            state.class_probs, torch.cat(frame_masks, 1),
            [frame.metainfo for frame in track_sample], rescale)
        for frame, result in zip(track_sample, results):
            frame.pred_track_instances = result['track_results']
            if 'pan_results' in result:
                frame.pred_panoptic_seg = result['pan_results']
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
            return astuple(
                self.panoptic_head.predict_video(feats,
                                                 batch_inputs.shape[1]))
        feats = self.extract_feat(batch_inputs)
        return self.panoptic_head.forward(feats, batch_data_samples)
