"""Export RAP-SAM to ONNX (image model + prompt decoder) and check it.

Example::

    python tools/deployment/export_onnx.py \
        configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py \
        --checkpoint CKPT --image ../shared/data/images/truck.jpg \
        --out-dir outputs/onnx --check --threads 2

Writes ``image_model.onnx`` (normalised padded image -> class logits,
stride-4 mask logits of the object queries, stride-4 features) for the
padded size of ``--image`` rescaled to ``--scale``, and
``prompt_decoder.onnx`` (features + clicks / boxes -> stride-4 prompt mask
logits and IoU scores), dynamic in the number of prompts and clicks. The
neck runs its ``'grid_sample'`` deformable-conv kernel (standard ONNX ops).

``--check`` runs both graphs in onnxruntime on the image and compares them
with PyTorch (the same weights on torchvision's deformable-conv kernel, the
model's default): max abs differences, panoptic segment ids after the
fusion head, and latency (``--repeat`` runs, median) of both runtimes.
Without ``--checkpoint`` the weights are random (seeded) and the offset
convs of the neck are given small random weights so that the deformable
sampling is exercised. Requires ``onnx``, ``onnxruntime`` and
``onnxscript`` (see requirements/optional.txt).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import time
from typing import Callable, Dict

import mmcv
import numpy as np
import torch

from mmdet.structures import DetDataSample
from rap_sam.deployment import (IMAGE_OUTPUTS, PROMPT_OUTPUTS,
                                ImageModelExport, PromptDecoderExport,
                                export_image_model, export_prompt_decoder,
                                panoptic_from, prompt_inputs)
from rap_sam.inference import build_model, to_rgb_uint8
from rap_sam.utils import dump_json_atomic


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='RAP-SAM ONNX export')
    parser.add_argument('config')
    parser.add_argument('--checkpoint', default=None)
    parser.add_argument('--image', default='../shared/data/images/truck.jpg')
    parser.add_argument('--scale', type=int, nargs=2, default=[1333, 800],
                        metavar=('LONG', 'SHORT'))
    parser.add_argument('--out-dir', default='outputs/onnx')
    parser.add_argument('--opset', type=int, default=18)
    parser.add_argument('--check', action='store_true',
                        help='compare onnxruntime with PyTorch and time both')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--num-clicks', type=int, default=10,
                        help='click prompts of the decoder check / timing')
    parser.add_argument('--object-mask-thr', type=float, default=None,
                        help='fusion score threshold for the panoptic check '
                        '(default: the config\'s)')
    parser.add_argument('--iou-thr', type=float, default=None,
                        help='fusion overlap threshold for the panoptic '
                        'check (default: the config\'s); random weights '
                        'keep few segments at the defaults')
    return parser.parse_args()


def build(config: str, checkpoint, deform_impl: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(
        config,
        checkpoint,
        'cpu',
        random_weights=checkpoint is None,
        cfg_options={'model.neck.deform_impl': deform_impl})
    if checkpoint is None:
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for block in model.neck.deform_blocks:
                weight = block.deform_conv.offset_conv.weight
                weight.copy_(
                    torch.randn(weight.shape, generator=gen) * 0.01)
    return model


def preprocess(model: torch.nn.Module, path: str, scale) -> tuple:
    """Normalised padded batch and meta of an image, as the predictor."""
    rgb = to_rgb_uint8(path)
    resized, _ = mmcv.imrescale(rgb, tuple(scale), return_scale=True)
    h, w = resized.shape[:2]
    inputs = torch.from_numpy(resized[..., ::-1].copy()).permute(2, 0, 1)
    data = model.data_preprocessor(
        dict(inputs=[inputs], data_samples=[DetDataSample()]), False)
    x = data['inputs']
    meta = dict(
        ori_shape=rgb.shape[:2],
        img_shape=(h, w),
        batch_input_shape=tuple(x.shape[-2:]),
        pad_shape=tuple(x.shape[-2:]),
        scale_factor=(w / rgb.shape[1], h / rgb.shape[0]))
    return x, meta


def median_ms(fn: Callable, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def click_prompts(k: int, meta: dict) -> Dict[str, torch.Tensor]:
    h, w = meta['img_shape']
    gen = torch.Generator().manual_seed(0)
    points = torch.rand(k, 1, 2, generator=gen) * torch.tensor([w, h])
    return prompt_inputs(points)


def check(args: argparse.Namespace, model, reference, x, meta,
          paths: Dict[str, str]) -> Dict:
    import onnxruntime as ort
    torch.set_num_threads(args.threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    image_sess = ort.InferenceSession(
        paths['image'], options, providers=['CPUExecutionProvider'])
    prompt_sess = ort.InferenceSession(
        paths['prompt'], options, providers=['CPUExecutionProvider'])
    report: Dict = dict(threads=args.threads, repeat=args.repeat)
    image_model = ImageModelExport(model).eval()
    reference_model = ImageModelExport(reference).eval()
    with torch.no_grad():
        ours = image_model(x)
        ref = reference_model(x)
    onnx_out = image_sess.run(None, {'image': x.numpy()})
    report['image_max_abs_diff'] = {
        name: dict(
            vs_pytorch_grid_sample=float(
                np.abs(a.numpy() - b).max()),
            vs_pytorch_torchvision=float(np.abs(r.numpy() - b).max()))
        for name, a, r, b in zip(IMAGE_OUTPUTS, ours, ref, onnx_out)
    }
    for key in ('object_mask_thr', 'iou_thr'):
        if getattr(args, key) is not None:
            for m in (model, reference):
                m.panoptic_fusion_head.test_cfg[key] = getattr(args, key)
    pan_ref = panoptic_from(reference, ref[0], ref[1], meta)
    pan_onnx = panoptic_from(model, torch.from_numpy(onnx_out[0]),
                             torch.from_numpy(onnx_out[1]), meta)
    report['panoptic'] = dict(
        identical=bool(torch.equal(pan_ref, pan_onnx)),
        segments=int(pan_ref.unique().numel()),
        pixels_differing=int((pan_ref != pan_onnx).sum()))

    features = ref[2]
    prompts = click_prompts(args.num_clicks, meta)
    decoder = PromptDecoderExport(model, meta['batch_input_shape'],
                                  meta['img_shape']).eval()
    ref_decoder = PromptDecoderExport(reference, meta['batch_input_shape'],
                                      meta['img_shape']).eval()
    feeds = dict(features=features.numpy(),
                 **{k: v.numpy() for k, v in prompts.items()})
    with torch.no_grad():
        ref_masks, ref_iou = ref_decoder(features, *prompts.values())
    onnx_masks, onnx_iou = prompt_sess.run(None, feeds)
    report['prompt_max_abs_diff'] = dict(
        mask_logits=float(np.abs(ref_masks.numpy() - onnx_masks).max()),
        iou_scores=float(np.abs(ref_iou.numpy() - onnx_iou).max()),
        mask_sign_agreement=float(
            ((ref_masks.numpy() > 0) == (onnx_masks > 0)).mean()))

    with torch.no_grad():
        report['latency_ms'] = dict(
            image_model_pytorch_torchvision=median_ms(
                lambda: reference_model(x), args.repeat),
            image_model_pytorch_grid_sample=median_ms(
                lambda: image_model(x), args.repeat),
            image_model_onnxruntime=median_ms(
                lambda: image_sess.run(None, {'image': x.numpy()}),
                args.repeat),
            prompt_decoder_pytorch=median_ms(
                lambda: decoder(features, *prompts.values()), args.repeat),
            prompt_decoder_onnxruntime=median_ms(
                lambda: prompt_sess.run(None, feeds), args.repeat))
    return report


def main() -> None:
    args = parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    model = build(args.config, args.checkpoint, 'grid_sample')
    x, meta = preprocess(model, args.image, args.scale)
    paths = dict(
        image=osp.join(args.out_dir, 'image_model.onnx'),
        prompt=osp.join(args.out_dir, 'prompt_decoder.onnx'))
    with torch.no_grad():
        features = model.extract_feat(x, factored=False)[0]
    export_image_model(model, x, paths['image'], args.opset)
    export_prompt_decoder(model, features, meta['batch_input_shape'],
                          paths['prompt'], meta['img_shape'], args.opset)
    summary = dict(
        config=args.config,
        input_shape=list(x.shape),
        meta={k: list(v) for k, v in meta.items()},
        files=paths,
        image_outputs=list(IMAGE_OUTPUTS),
        prompt_outputs=list(PROMPT_OUTPUTS),
        opset=args.opset)
    if args.check:
        reference = build(args.config, args.checkpoint, 'torchvision')
        reference.load_state_dict(model.state_dict())
        summary['check'] = check(args, model, reference, x, meta, paths)
    text = json.dumps(summary, indent=1)
    print(text)
    dump_json_atomic(summary, osp.join(args.out_dir, 'export_onnx.json'),
                     indent=1)


if __name__ == '__main__':
    main()
