"""Streaming video segmentation: one frame at a time, stable identities."""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample
from ..utils.mask_geometry import first_click
from ..models.heads import HeadPredictions, VideoTrackState
from ..models.utils import above
from .precision import autocast
from .predictor import ImageLike, RapSAMPredictor


class VideoPredictor:
    """Video instance segmentation of a frame stream, with prompts.

    Every frame is decoded once (object queries, plus one prompt query per
    prompted object, in the same decoder pass). Object queries follow the
    steps of :meth:`RapSAM.predict_video` with clips of one frame: linked
    to the video's query slots and class probabilities averaged by
    :class:`VideoTrackState`, then the best ``test_cfg.max_per_video``
    (slot, class) pairs by :meth:`RapSAMFusionHead.predict_video`; of
    those, a slot scoring above ``score_thr`` is shown, and gets an id the
    first time and keeps it. Objects given
    by prompts (on any frame) get new ids and are followed by re-prompting
    each next frame with the box and interior point of their last mask. The
    state is the linker's slot embeddings and one click + box per prompted
    object, so memory does not grow with the video.

    Args:
        model (nn.Module): A :class:`RapSAM` model in eval mode.
        scale (tuple[int, int]): Resize scale of frames. Defaults to
            (1280, 736).
        score_thr (float): Mean class score above which a slot is shown.
        link_momentum (float, optional): See :class:`QueryLinker`.
            Defaults to the model's ``test_cfg.link_momentum`` (0), the
            value its VIS mAP is scored with.
        precision (str): See :class:`RapSAMPredictor`. Defaults to 'fp32'.
        calibration_images (Sequence, optional): For 'int8': see
            :class:`RapSAMPredictor` (frames of the video do).
        channels_last (bool, optional): See :class:`RapSAMPredictor`.
    """

    def __init__(self,
                 model: torch.nn.Module,
                 scale: Tuple[int, int] = (1280, 736),
                 score_thr: float = 0.5,
                 link_momentum: Optional[float] = None,
                 precision: str = 'fp32',
                 calibration_images: Optional[Sequence[ImageLike]] = None,
                 channels_last: Optional[bool] = None) -> None:
        self.image = RapSAMPredictor(
            model, scale, precision=precision,
            calibration_images=calibration_images,
            channels_last=channels_last)
        self.model = model
        self.score_thr = score_thr
        self.link_momentum = link_momentum if link_momentum is not None \
            else model.panoptic_fusion_head.options.link_momentum
        self.reset()

    def reset(self) -> None:
        """Forget the video."""
        self.state = VideoTrackState(self.link_momentum)
        self.slot_ids: Dict[int, int] = {}
        # id -> (click (2,), box (4,) or None) as fractions of the image
        # width and height, so that they follow a change of frame size.
        self.prompted: Dict[int, Tuple[np.ndarray, Optional[np.ndarray]]] = {}
        self.next_id = 1
        self.frame_index = -1

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def _tracked_prompts(self, meta: dict) -> Optional[InstanceData]:
        """The stored prompt of each prompted object, in the input pixels
        of the frame ``meta`` describes."""
        if not self.prompted:
            return None
        h, w = meta['img_shape'][:2]
        clicks = [c * (w, h) for c, _ in self.prompted.values()]
        boxes = [b * (w, h, w, h) if b is not None else np.zeros(4)
                 for _, b in self.prompted.values()]
        return InstanceData(
            points=torch.tensor(np.stack(clicks)[:, None], dtype=torch.float),
            point_labels=torch.ones(len(clicks), 1, dtype=torch.long),
            boxes=torch.tensor(np.stack(boxes), dtype=torch.float),
            box_valid=torch.tensor([b is not None
                                    for _, b in self.prompted.values()]))

    @staticmethod
    def _prompt_from_mask(mask: np.ndarray,
                          meta: dict) -> Tuple[np.ndarray, np.ndarray]:
        """Interior click and box of a stride-4 mask, as fractions of the
        image size."""
        h, w = meta['img_shape'][:2]
        ys, xs = np.nonzero(mask)
        x, y = first_click(mask)
        click = np.array([(x * 4 + 2) / w, (y * 4 + 2) / h])
        box = np.array([xs.min() * 4 / w, ys.min() * 4 / h,
                        min(xs.max() * 4 + 4, w) / w,
                        min(ys.max() * 4 + 4, h) / h])
        return click, box

    @staticmethod
    def _prompt_from_user(
            p: InstanceData, i: int,
            meta: dict) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Click and box of the user's i-th prompt, as fractions of the
        image size."""
        h, w = meta['img_shape'][:2]
        box = p.boxes[i].double().numpy() if bool(p.box_valid[i]) else None
        if int(p.point_labels[i, 0]) >= 0:
            click = p.points[i, 0].double().numpy()
        else:
            click = (box[:2] + box[2:]) / 2
        return click / (w, h), box / (w, h, w, h) if box is not None else None

    @torch.no_grad()
    def step(self,
             frame: ImageLike,
             points: Optional[Sequence] = None,
             point_labels: Optional[Sequence] = None,
             boxes: Optional[Sequence] = None,
             box_valid: Optional[Sequence[bool]] = None
             ) -> Dict[str, np.ndarray]:
        """Segment the next frame; optional prompts add new objects.

        Args:
            frame (str | np.ndarray): The frame (RGB array or path).
            points, point_labels, boxes: Prompts for new objects on this
                frame, as in :meth:`RapSAMPredictor.predict`.
            box_valid (Sequence[bool], optional): (P,) which new objects
                have a box, to mix click-only and box-only objects on one
                frame: a click-only object takes any box inside the image
                (e.g. zeros) with ``box_valid`` False, a box-only one a
                click with label -1 (padding). Defaults to all when
                ``boxes`` is given.

        Returns:
            dict[str, np.ndarray]: ``masks`` (M, H, W) bool, ``ids`` (M,),
            ``scores`` (M,), ``labels`` (M,) (-1 for prompted objects).
        """
        self.frame_index += 1
        self.image.set_image(frame)
        meta = self.image._meta
        tracked = self._tracked_prompts(meta)
        new = None
        if points is not None or boxes is not None:
            new = self.image._prompts(points, point_labels, boxes)
            if box_valid is not None and 'boxes' in new:
                valid = np.asarray(box_valid)
                if valid.dtype != bool or valid.shape != (len(new), ):
                    raise ValueError(
                        f'box_valid must be {len(new)} bools, one per new '
                        f'object, got {valid.dtype} {valid.shape}')
                new.box_valid = torch.as_tensor(valid)
        prompts = [p for p in (tracked, new) if p is not None and len(p)]
        sample = DetDataSample(metainfo=meta)
        if prompts:
            sample.prompt_instances = InstanceData.cat(
                [self._complete(p) for p in prompts]) if len(
                    prompts) > 1 else self._complete(prompts[0])
        with autocast(self.image.precision, str(self.image.device)):
            preds = self.model.panoptic_head.predict(
                (self.image.pixels, ), [sample])
            results = self._objects(preds, meta)
            if preds.prompts is not None:
                self._prompted_results(preds, sample, tracked,
                                       self._complete(new) if new else None,
                                       results)
        return {k: np.stack(v) if k == 'masks' and v else np.asarray(v)
                for k, v in results.items()}

    @staticmethod
    def _complete(p: InstanceData) -> InstanceData:
        """Give every prompt both fields so prompt sets concatenate."""
        n = len(p)
        if 'points' not in p:
            p.points = torch.zeros(n, 1, 2)
            p.point_labels = -torch.ones(n, 1, dtype=torch.long)
        if 'boxes' not in p:
            p.boxes = torch.zeros(n, 4)
            p.box_valid = torch.zeros(n, dtype=torch.bool)
        elif 'box_valid' not in p:
            p.box_valid = torch.ones(n, dtype=torch.bool)
        if p.points.shape[1] != 1:
            raise ValueError('video prompts take one click per object')
        return p

    def _objects(self, preds: HeadPredictions,
                 meta: dict) -> Dict[str, list]:
        objects = self.state.link(preds.objects)
        tracks = self.model.panoptic_fusion_head.predict_video(
            self.state.class_probs, objects.mask_logits[0][:, None],
            [meta], score_thr=self.score_thr)[0]['track_results']
        results = dict(masks=[], ids=[], scores=[], labels=[])
        shown = set()
        for i, slot in enumerate(tracks.query_index.tolist()):
            if slot in shown:
                continue
            score = float(tracks.scores[i])
            shown.add(slot)
            if slot not in self.slot_ids:
                self.slot_ids[slot] = self._new_id()
            results['masks'].append(tracks.masks[i].cpu().numpy())
            results['ids'].append(self.slot_ids[slot])
            results['scores'].append(score)
            results['labels'].append(int(tracks.labels[i]))
        return results

    def _prompted_results(self, preds: HeadPredictions,
                          sample: DetDataSample,
                          tracked: Optional[InstanceData],
                          new: Optional[InstanceData],
                          results: Dict[str, list]) -> None:
        logits = preds.prompts.mask_logits[0]
        full = self.model.panoptic_fusion_head.predict_prompts(
            preds.prompts, [sample])[0]
        ids = list(self.prompted)
        num_tracked = len(tracked) if tracked is not None else 0
        for i in range(len(logits) - num_tracked):
            obj_id = self._new_id()
            self.prompted[obj_id] = self._prompt_from_user(
                new, i, sample.metainfo)
            ids.append(obj_id)
        for i, obj_id in enumerate(ids):
            mask = above(logits[i]).cpu().numpy()
            if mask.any():  # a lost object keeps its last prompt
                self.prompted[obj_id] = self._prompt_from_mask(
                    mask, sample.metainfo)
            results['masks'].append(full.masks[i].cpu().numpy())
            results['ids'].append(obj_id)
            results['scores'].append(float(full.iou_scores[i]))
            results['labels'].append(-1)
