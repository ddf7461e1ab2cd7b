"""Panoptic segmentation and prompt masks of one image, to PNG files.

Example::

    python demo/image_demo.py ../shared/data/images/truck.jpg \
        configs/rap_sam/rap-sam_r50_8xb2-12e_coco-panoptic.py \
        --checkpoint rapsam_r50.pth --points 500,375 --boxes 425,600,700,875
"""
import argparse
import os
import os.path as osp
import time

import numpy as np
import torch

from rap_sam.inference import (PRECISIONS, RapSAMPredictor, build_model,
                               image_files, keep_freed_memory, overlay_masks,
                               overlay_panoptic, to_rgb_uint8)
from rap_sam.utils import write_image_atomic


def parse_numbers(text: str, count: int, name: str) -> list:
    values = [float(v) for v in text.split(',')]
    if len(values) != count:
        raise argparse.ArgumentTypeError(
            f'--{name} takes {count} comma-separated numbers, got {text!r}')
    return values


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('image', help='image file')
    parser.add_argument('config', help='model config file')
    parser.add_argument('--checkpoint', help='checkpoint file')
    parser.add_argument(
        '--unsafe-load', action='store_true',
        help='unpickle the checkpoint fully (runs any code it holds): only '
        'for a legacy file you trust')
    parser.add_argument(
        '--random-weights', action='store_true',
        help='no checkpoint and random class embeddings (smoke runs)')
    parser.add_argument(
        '--points', nargs='*', default=[],
        help='clicks x,y (one prompt each); prefix "-" for negative: -x,y')
    parser.add_argument('--boxes', nargs='*', default=[],
                        help='boxes x1,y1,x2,y2 (one prompt each)')
    parser.add_argument(
        '--scale', type=int, nargs=2, default=[1333, 800],
        metavar=('LONG', 'SHORT'),
        help='longest and shortest side the model sees')
    parser.add_argument('--out-dir', default='outputs/demo')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--precision', choices=PRECISIONS, default='fp32',
        help='bf16 / fp16 autocast (bf16 needs a CPU with native bf16, '
        'else it runs in fp32 with a warning); int8: the backbone in int8 '
        '(ONNX Runtime, CPU with VNNI), the rest bf16 where it is faster '
        'than fp32')
    parser.add_argument(
        '--calibration-images', nargs='+', default=None, metavar='PATH',
        help='int8: images or folders (up to 8 images) that set the '
        'quantization ranges; default: the input image')
    return parser.parse_args()


def main():
    args = parse_args()
    keep_freed_memory()  # same tensors every image: keep their pages
    if not osp.isfile(args.image):
        raise SystemExit(f'image not found: {args.image}')
    if args.checkpoint is None and not args.random_weights:
        raise SystemExit('give --checkpoint, or --random-weights for a '
                         'smoke run with an untrained model')
    torch.manual_seed(0)
    model = build_model(args.config, args.checkpoint, args.device,
                        random_weights=args.random_weights,
                        unsafe_load=args.unsafe_load)
    calibration = None
    if args.precision == 'int8':
        calibration = image_files(args.calibration_images or [args.image])
    predictor = RapSAMPredictor(model, scale=tuple(args.scale),
                                precision=args.precision,
                                calibration_images=calibration)
    image = to_rgb_uint8(args.image)
    os.makedirs(args.out_dir, exist_ok=True)

    start = time.perf_counter()
    predictor.set_image(image)
    t_features = time.perf_counter() - start
    start = time.perf_counter()
    panoptic = predictor.panoptic()['panoptic_seg']
    t_panoptic = time.perf_counter() - start
    num_classes = model.panoptic_fusion_head.num_classes
    out = osp.join(args.out_dir, 'panoptic.png')
    write_image_atomic(
        out, overlay_panoptic(image, panoptic, num_classes)[..., ::-1])
    print(f'features {t_features:.2f}s, panoptic {t_panoptic:.2f}s -> {out}')

    prompts = [(parse_numbers(p.lstrip('-'), 2, 'points'),
                0 if p.startswith('-') else 1) for p in args.points]
    boxes = [parse_numbers(b, 4, 'boxes') for b in args.boxes]
    results = []
    if prompts:
        points = np.array([[p] for p, _ in prompts], np.float32)
        labels = np.array([[lbl] for _, lbl in prompts])
        start = time.perf_counter()
        res = predictor.predict(points=points, point_labels=labels)
        results.append(('points', res, dict(points=points,
                                            point_labels=labels)))
        print(f'{len(points)} point prompt(s) in '
              f'{time.perf_counter() - start:.3f}s')
    if boxes:
        start = time.perf_counter()
        res = predictor.predict(boxes=np.array(boxes, np.float32))
        results.append(('boxes', res, dict(boxes=np.array(boxes))))
        print(f'{len(boxes)} box prompt(s) in '
              f'{time.perf_counter() - start:.3f}s')
    for name, res, drawn in results:
        out = osp.join(args.out_dir, f'prompts_{name}.png')
        write_image_atomic(
            out, overlay_masks(image, res['masks'], **drawn)[..., ::-1])
        ious = ', '.join(f'{s:.2f}' for s in res['iou_scores'])
        print(f'{name}: predicted IoU {ious} -> {out}')


if __name__ == '__main__':
    main()
