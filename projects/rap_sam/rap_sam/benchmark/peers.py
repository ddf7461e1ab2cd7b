"""Peer models timed beside RAP-SAM, on the same inputs, random weights.

Every peer is optional: its package is imported when the peer is built,
and a missing package (or config) raises :class:`PeerUnavailable` with the
reason, which the benchmark prints before going on without that peer.

- ``m2f-r50`` / ``m2f-r18``: mmdet's Mask2Former panoptic model (its COCO
  panoptic config; R18 swaps the backbone depth and the pixel decoder's
  input channels), ``model.predict`` at 1333x800.
- ``m2f-vis``: mmdet's Mask2Former-VIS (YouTube-VIS 2021 config), one
  frame (a 1-frame clip) at 1280x736.
- ``sam-vit-b``: segment-anything's SAM ViT-B (``segment-anything``),
  ``SamPredictor.set_image`` + k clicks, and k clicks on a set image.
- ``mobile-sam``: MobileSAM (TinyViT encoder + SAM decoder; the
  ``mobilesam-mirror`` package, module ``mobile_sam``), the same tasks.
"""
import os.path as osp
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config

from .tasks import (PANOPTIC_SHAPE, PROMPT_SHAPE, VIDEO_SHAPE, RunOptions,
                    Task, det_inputs, load_image, point_prompts)

PeerTasks = Tuple[List[Task], nn.Module]

PEERS = ('m2f-r50', 'm2f-r18', 'm2f-vis', 'sam-vit-b', 'mobile-sam')


class PeerUnavailable(RuntimeError):
    """A peer cannot be built here (package or config missing)."""


def mmdet_config(relpath: str) -> Config:
    """A config bundled with the installed mmdet (``mmdet/.mim/configs``)."""
    import mmdet
    path = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', relpath)
    if not osp.exists(path):
        raise PeerUnavailable(f'mmdet config {relpath} not found at {path}')
    return Config.fromfile(path)


def _build_mmdet(cfg: Config) -> nn.Module:
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg.model.backbone.init_cfg = None  # random weights, no download
    return MODELS.build(cfg.model)


def mask2former_tasks(depth: int, opts: RunOptions,
                      image_path: Optional[str] = None) -> PeerTasks:
    """Mask2Former (ResNet-``depth``) panoptic at 1333x800."""
    from mmdet.structures import DetDataSample
    cfg = mmdet_config('mask2former/mask2former_r50_8xb2-lsj-50e_coco-'
                       'panoptic.py')
    if depth != 50:
        channels = [64, 128, 256, 512] if depth in (18, 34) else \
            [256, 512, 1024, 2048]
        cfg.model.backbone.depth = depth
        cfg.model.panoptic_head.in_channels = channels
    model = opts.prepare(_build_mmdet(cfg), ['backbone'])
    x, meta = det_inputs(model, load_image(PANOPTIC_SHAPE, image_path), opts)
    return [
        Task(f'Mask2Former R{depth}', 'panoptic', PANOPTIC_SHAPE,
             lambda: model.predict(x, [DetDataSample(metainfo=meta)]),
             (model, ))
    ], model


def mask2former_vis_tasks(opts: RunOptions,
                          image_path: Optional[str] = None) -> PeerTasks:
    """Mask2Former-VIS (R50), one frame of a stream at 1280x736."""
    from mmdet.structures import DetDataSample, TrackDataSample
    cfg = mmdet_config('mask2former_vis/mask2former_r50_8xb2-8e_'
                       'youtubevis2021.py')
    model = opts.prepare(_build_mmdet(cfg), ['backbone'])
    rgb = load_image(VIDEO_SHAPE, image_path)
    h, w = VIDEO_SHAPE
    meta = dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1., 1.),
                frame_id=0, video_length=1)
    frame = torch.from_numpy(rgb[..., ::-1].copy()).permute(2, 0, 1)
    data = model.data_preprocessor(
        dict(inputs=[frame[None]],
             data_samples=[
                 TrackDataSample(
                     video_data_samples=[DetDataSample(metainfo=meta)])
             ]), False)
    x = opts.tensor(data['inputs'])
    frame_meta = data['data_samples'][0][0].metainfo

    def run():
        sample = TrackDataSample(
            video_data_samples=[DetDataSample(metainfo=frame_meta)])
        return model.predict(x, [sample])

    return [
        Task('Mask2Former-VIS R50', 'video frame', VIDEO_SHAPE, run,
             (model, ), note='1-frame clip')
    ], model


def sam_tasks(label: str,
              build: Callable[[], nn.Module],
              predictor_cls: type,
              opts: RunOptions,
              prompts: Sequence[int] = (1, 10, 100),
              set_image_prompts: Sequence[int] = (10, ),
              image_path: Optional[str] = None) -> PeerTasks:
    """SAM-style predictor tasks (same names as RAP-SAM's).

    ``prompts(k)`` is ``set_image`` + k single-click prompts decoded in one
    batch (``multimask_output=False``, masks at the image size);
    ``re-prompt(k)`` the clicks alone on an image already set. At 1333x800
    SAM's 10 clicks are compared with RAP-SAM's panoptic + 10 clicks in
    one pass.
    """
    sam = opts.prepare(build(), ['image_encoder'])
    predictor = predictor_cls(sam)
    device = torch.device(opts.device)

    def clicks(k: int, shape, pred):
        pts = point_prompts(k, shape)
        coords = pred.transform.apply_coords(pts, shape)
        return (torch.as_tensor(coords, device=device),
                torch.ones(k, 1, dtype=torch.int, device=device))

    def decode(pred, coords, labels):
        masks, iou, _ = pred.predict_torch(
            coords, labels, multimask_output=False)
        # iou is bf16 / fp16 under autocast, which numpy does not take
        return masks.cpu().numpy(), iou.float().cpu().numpy()

    def with_image(rgb, k):
        def run():
            predictor.set_image(rgb)
            return decode(predictor, *clicks(k, rgb.shape[:2], predictor))

        return run

    tasks = []
    pan_rgb = load_image(PANOPTIC_SHAPE, image_path)
    rgb = load_image(PROMPT_SHAPE, image_path)
    for k in set_image_prompts:
        tasks.append(
            Task(label, f'prompts({k})', PANOPTIC_SHAPE,
                 with_image(pan_rgb, k), (sam, ),
                 compare_to=f'panoptic+prompts({k})@{PANOPTIC_SHAPE[0]}x'
                 f'{PANOPTIC_SHAPE[1]}'))
    for k in set_image_prompts:
        tasks.append(
            Task(label, f'prompts({k})', PROMPT_SHAPE, with_image(rgb, k),
                 (sam, )))
    cached = predictor_cls(sam)
    with opts.context():
        cached.set_image(rgb)
    for k in prompts:
        args = clicks(k, PROMPT_SHAPE, cached)
        tasks.append(
            Task(label, f're-prompt({k})', PROMPT_SHAPE,
                 lambda a=args: decode(cached, *a), (sam, )))
    return tasks, sam


def build_peer(name: str,
               opts: RunOptions,
               prompts: Sequence[int] = (1, 10, 100),
               set_image_prompts: Sequence[int] = (10, ),
               image_path: Optional[str] = None) -> PeerTasks:
    """Tasks and model of one peer.

    Returns:
        tuple[list[Task], nn.Module]: The tasks and the model.

    Raises:
        PeerUnavailable: The peer's package or config is missing.
    """
    if name == 'm2f-r50':
        return mask2former_tasks(50, opts, image_path)
    if name == 'm2f-r18':
        return mask2former_tasks(18, opts, image_path)
    if name == 'm2f-vis':
        return mask2former_vis_tasks(opts, image_path)
    if name == 'sam-vit-b':
        try:
            import segment_anything as sam_lib
        except ImportError as e:
            raise PeerUnavailable(
                f'segment-anything is not installed ({e}); pip install '
                'segment-anything==1.0') from e
        return sam_tasks(
            'SAM ViT-B',
            lambda: sam_lib.sam_model_registry['vit_b'](checkpoint=None),
            sam_lib.SamPredictor, opts, prompts, set_image_prompts,
            image_path)
    if name == 'mobile-sam':
        try:
            import warnings
            with warnings.catch_warnings():
                # its TinyViT re-registers timm's tiny_vit names
                warnings.simplefilter('ignore')
                import mobile_sam
        except ImportError as e:
            raise PeerUnavailable(
                f'MobileSAM is not installed ({e}); pip install '
                'mobilesam-mirror==1.0.0') from e
        return sam_tasks(
            'MobileSAM',
            lambda: mobile_sam.sam_model_registry['vit_t'](checkpoint=None),
            mobile_sam.SamPredictor, opts, prompts, set_image_prompts,
            image_path)
    raise ValueError(f'unknown peer {name!r}; choose from {PEERS}')
