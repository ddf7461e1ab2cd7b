"""The timed tasks of RAP-SAM: inputs, options and one callable per task."""
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample
from ..inference.precision import PRECISIONS, autocast, resolve_precision

Shape = Tuple[int, int]

#: Input sizes (H, W) of each task family: COCO test scale (padded to
#: 800x1344), SAM's 1024x1024 and YouTube-VIS frames (1280x736).
PANOPTIC_SHAPE: Shape = (800, 1333)
PROMPT_SHAPE: Shape = (1024, 1024)
VIDEO_SHAPE: Shape = (736, 1280)


@dataclass
class RunOptions:
    """How the models run.

    Args:
        device (str): 'cpu' or 'cuda[:i]'.
        dtype (str): 'fp32', or 'fp16' / 'bf16' autocast (CUDA; bf16 also
            on a CPU with native bf16, else an error), or 'int8' (CPU: the
            RAP-SAM backbone as an int8 ONNX Runtime graph and its
            decoder's products with the map as int8 GEMMs, the rest and
            the peers in bf16 where this CPU runs bf16 faster than fp32,
            else in fp32: :func:`~rap_sam.inference.precision.autocast`).
        channels_last (bool): Models and inputs in NHWC memory format.
        compile (bool): ``torch.compile`` the image encoders (backbone and
            neck, or a peer's backbone / image encoder).
    """
    device: str = 'cpu'
    dtype: str = 'fp32'
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in PRECISIONS:
            raise ValueError(f'unknown dtype {self.dtype!r}')
        on_cpu = not self.device.startswith('cuda')
        if self.dtype == 'fp16' and on_cpu:
            raise ValueError('--fp16 needs a CUDA device')
        if self.dtype == 'int8':
            if resolve_precision('int8', self.device) != 'int8':
                raise ValueError('--int8 cannot run here (see the warning)')
        if self.dtype == 'bf16' and on_cpu:
            # warns where native bf16 is slower than fp32
            if resolve_precision('bf16', self.device) != 'bf16':
                raise ValueError('--bf16 on this CPU would be emulated '
                                 '(no AVX512-BF16 / AMX): use fp32')

    @property
    def device_type(self) -> str:
        return self.device.split(':')[0]

    def context(self) -> contextlib.ExitStack:
        """no_grad, plus autocast for fp16 / bf16 (int8: that of the
        predictors' int8 precision)."""
        stack = contextlib.ExitStack()
        stack.enter_context(torch.no_grad())
        stack.enter_context(autocast(self.dtype, self.device))
        return stack

    def prepare(self, model: nn.Module,
                compile_names: Sequence[str] = ()) -> nn.Module:
        """Move a model to the device / memory format, in eval mode without
        gradients; compile parts.

        ``compile_names`` are attribute paths (``'backbone'``,
        ``'image_encoder'``) of the sub-modules replaced by their
        ``torch.compile`` version when :attr:`compile` is set.
        """
        # inference only (FlopCounterMode's module tracker also trips on
        # parameters returned as outputs, e.g. SAM's no-mask embedding)
        model = model.to(self.device).eval().requires_grad_(False)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.compile:
            for name in compile_names:
                parent, _, attr = name.rpartition('.')
                owner = model.get_submodule(parent) if parent else model
                setattr(owner, attr, torch.compile(getattr(owner, attr)))
        return model

    def tensor(self, x: torch.Tensor) -> torch.Tensor:
        """An input batch on the device, in the chosen memory format."""
        x = x.to(self.device)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


@dataclass
class Task:
    """One timed piece of work.

    Args:
        model (str): Row label of the model, e.g. 'RAP-SAM R18'.
        name (str): The task, e.g. 'panoptic', 'prompts(10)'.
        shape (tuple[int, int]): Input image (H, W).
        fn (Callable): One run.
        modules (Sequence[nn.Module]): Models whose deformable convs the
            FLOP counter adds.
        compare_to (str, optional): :attr:`key` of the RAP-SAM task this
            task is compared with (default: the same key).
        note (str): Shown in the table.
        opts (RunOptions, optional): How it runs (the precision whose
            ``context()`` each run enters), when not as the rest of the
            benchmark run.
    """
    model: str
    name: str
    shape: Shape
    fn: Callable[[], object]
    modules: Sequence[nn.Module] = field(default_factory=tuple)
    compare_to: Optional[str] = None
    note: str = ''
    opts: Optional[RunOptions] = None

    @property
    def key(self) -> str:
        return f'{self.name}@{self.shape[0]}x{self.shape[1]}'


def load_image(shape: Shape, path: Optional[str] = None) -> np.ndarray:
    """An (H, W, 3) uint8 RGB image of the given size.

    ``path`` (e.g. ``../shared/data/images/truck.jpg``) is resized when it
    exists; otherwise a seeded synthetic image (smooth colour gradients
    and a few discs) is made.
    """
    import mmcv
    h, w = shape
    if path and Path(path).exists():
        img = mmcv.imread(path, channel_order='rgb')
        return np.ascontiguousarray(mmcv.imresize(img, (w, h)))
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([yy, xx, 1 - yy], -1) * 200
    for _ in range(8):
        cy, cx, r = rng.uniform(0, 1, 3) * [h, w, min(h, w) / 4]
        disc = (np.mgrid[0:h, 0:w][0] - cy)**2 + (
            np.mgrid[0:h, 0:w][1] - cx)**2 < r**2
        img[disc] = rng.uniform(0, 255, 3)
    return img.astype(np.uint8)


def point_prompts(k: int, shape: Shape, seed: int = 0) -> np.ndarray:
    """(k, 1, 2) single clicks (x, y) spread over an image."""
    h, w = shape
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0.05, 0.95, (k, 1, 2)) * [w - 1, h - 1]
    return xy.astype(np.float32)


def det_inputs(model: nn.Module, rgb: np.ndarray,
               opts: RunOptions) -> Tuple[torch.Tensor, dict]:
    """Normalised, padded batch (1, 3, H, W) and the sample meta of an
    image, through the model's own data preprocessor (BGR in, as mmdet's
    loading pipeline gives it)."""
    h, w = rgb.shape[:2]
    meta = dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1., 1.))
    inputs = torch.from_numpy(rgb[..., ::-1].copy()).permute(2, 0, 1)
    data = model.data_preprocessor(
        dict(inputs=[inputs], data_samples=[DetDataSample(metainfo=meta)]),
        False)
    return opts.tensor(data['inputs']), data['data_samples'][0].metainfo


def rap_sam_tasks(model: nn.Module,
                  label: str,
                  opts: RunOptions,
                  prompts: Sequence[int] = (1, 10, 100),
                  image_path: Optional[str] = None,
                  cache_prompt_kv: bool = True) -> List[Task]:
    """The tasks of one RAP-SAM model.

    - ``backbone``, ``features`` (backbone + neck) and ``panoptic``
      (``model.predict``: decoder + fusion, masks at the original size) at
      1333x800, padded to 1344x800;
    - ``panoptic+prompts(10)``: objects and 10 clicks in one decoder pass;
    - ``prompts(k)`` at 1024x1024: ``RapSAMPredictor.set_image`` +
      ``predict`` of k single-click prompts;
    - ``re-prompt(k)``: ``predict`` on an image already set and prompted
      twice (cached features and pixel keys / values);
    - ``image`` and ``video frame`` at 1280x736: ``set_image`` +
      ``panoptic()`` of one image, and ``VideoPredictor.step`` of one frame
      of a stream (decoding, query linking, masks of the kept objects).

    Args:
        model (nn.Module): A RAP-SAM model, prepared by ``opts``.
        label (str): Row label.
        opts (RunOptions): Device and precision.
        prompts (Sequence[int]): k of the prompt tasks.
        image_path (str, optional): Image to use (resized); synthetic
            otherwise.
        cache_prompt_kv (bool): The predictors' ``cache_prompt_kv``.

    Returns:
        list[Task]: The tasks, each run with ``opts``.
    """
    from rap_sam.inference import RapSAMPredictor, VideoPredictor
    tasks: List[Task] = []
    mods = (model, )

    pan_rgb = load_image(PANOPTIC_SHAPE, image_path)
    x, meta = det_inputs(model, pan_rgb, opts)

    def sample(k: int = 0) -> DetDataSample:
        s = DetDataSample(metainfo=meta)
        if k:
            s.prompt_instances = InstanceData(
                points=torch.from_numpy(point_prompts(k, PANOPTIC_SHAPE)).to(
                    x.device),
                point_labels=torch.ones(k, 1, dtype=torch.long,
                                        device=x.device))
        return s

    tasks += [
        Task(label, 'backbone', PANOPTIC_SHAPE, lambda: model.backbone(x),
             mods, note='padded 800x1344'),
        Task(label, 'features', PANOPTIC_SHAPE, lambda: model.extract_feat(x),
             mods),
        Task(label, 'panoptic', PANOPTIC_SHAPE,
             lambda: model.predict(x, [sample()]), mods),
        Task(label, 'panoptic+prompts(10)', PANOPTIC_SHAPE,
             lambda: model.predict(x, [sample(10)]), mods),
    ]

    prompt_rgb = load_image(PROMPT_SHAPE, image_path)
    layout = dict(channels_last=opts.channels_last)
    first = RapSAMPredictor(model, PROMPT_SHAPE[::-1], cache_prompt_kv,
                            **layout)
    cached = RapSAMPredictor(model, PROMPT_SHAPE[::-1], cache_prompt_kv,
                             **layout)
    with opts.context():
        cached.set_image(prompt_rgb)
        # the first re-prompt fills the pixel K/V cache, the next reuse it
        for _ in range(2):
            cached.predict(points=point_prompts(1, PROMPT_SHAPE))

    def prompt_task(k: int) -> Callable[[], object]:
        points = point_prompts(k, PROMPT_SHAPE)

        def run():
            first.set_image(prompt_rgb)
            return first.predict(points=points)

        return run

    for k in prompts:
        tasks.append(
            Task(label, f'prompts({k})', PROMPT_SHAPE, prompt_task(k), mods))
    for k in prompts:
        points = point_prompts(k, PROMPT_SHAPE)
        tasks.append(
            Task(label, f're-prompt({k})', PROMPT_SHAPE,
                 lambda p=points: cached.predict(points=p), mods))

    frame = load_image(VIDEO_SHAPE, image_path)
    image = RapSAMPredictor(model, scale=VIDEO_SHAPE[::-1], **layout)
    video = VideoPredictor(model, scale=VIDEO_SHAPE[::-1], **layout)

    def image_panoptic():
        image.set_image(frame)
        return image.panoptic()

    tasks += [
        Task(label, 'image', VIDEO_SHAPE, image_panoptic, mods,
             note='set_image + panoptic()'),
        Task(label, 'video frame', VIDEO_SHAPE, lambda: video.step(frame),
             mods, note='VideoPredictor.step'),
    ]
    for task in tasks:
        task.opts = opts
    return tasks


def model_info(model: nn.Module) -> Dict[str, float]:
    """Parameters (millions) of a model and of its backbone / encoder."""
    info = dict(params_m=sum(p.numel() for p in model.parameters()) / 1e6)
    for name in ('backbone', 'image_encoder'):
        part = getattr(model, name, None)
        if isinstance(part, nn.Module):
            info['backbone_params_m'] = sum(
                p.numel() for p in part.parameters()) / 1e6
    return info
