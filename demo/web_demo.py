"""Interactive segmentation in the browser: a local RAP-SAM web page.

Example::

    python demo/web_demo.py \
        configs/rap_sam/rap-sam_r50_8xb2-12e_coco-panoptic.py \
        --checkpoint rapsam_r50.pth --image ../shared/data/images/truck.jpg

then open http://127.0.0.1:7860 : left click adds a positive point, shift-
or right-click a negative one, a drag draws a box.
"""
import argparse
import os.path as osp

import torch

from rap_sam.inference import (PRECISIONS, RapSAMPredictor, build_model,
                               image_files, keep_freed_memory)
from web_server.app import (DEFAULT_MAX_UPLOAD_BYTES, LOOPBACK_NAMES,
                            create_app, is_loopback)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config file')
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument('--checkpoint', help='checkpoint file')
    weights.add_argument(
        '--random-weights', action='store_true',
        help='no checkpoint and random class embeddings (smoke runs)')
    parser.add_argument(
        '--unsafe-load', action='store_true',
        help='unpickle the checkpoint fully (runs any code it holds): only '
        'for a legacy file you trust')
    parser.add_argument('--host', default='127.0.0.1',
                        help='bind address (default: loopback only)')
    parser.add_argument('--port', type=int, default=7860)
    parser.add_argument(
        '--allow-remote', action='store_true',
        help='allow a --host that other machines can reach')
    parser.add_argument(
        '--allowed-hosts', nargs='+', default=[], metavar='NAME',
        help='with --allow-remote: the names or addresses clients use to '
        'reach the server (checked against the Host header; the loopback '
        'names and --host are always allowed)')
    parser.add_argument('--image', help='image opened when the page loads')
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
        'quantization ranges; default: --image')
    parser.add_argument(
        '--scale', type=int, nargs=2, default=[1333, 800],
        metavar=('LONG', 'SHORT'),
        help='longest and shortest side the model sees')
    parser.add_argument(
        '--max-upload-mb', type=float,
        default=DEFAULT_MAX_UPLOAD_BYTES / 2**20,
        help='largest image upload accepted, in MiB')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    keep_freed_memory()  # same tensors every image: keep their pages
    if args.checkpoint is None and not args.random_weights:
        raise SystemExit('give --checkpoint, or --random-weights for a '
                         'smoke run with an untrained model')
    if not is_loopback(args.host) and not args.allow_remote:
        raise SystemExit(
            f'--host {args.host} is reachable from other machines and the '
            'page has no authentication; add --allow-remote to do it anyway')
    if args.image is not None and not osp.isfile(args.image):
        raise SystemExit(f'image not found: {args.image}')
    if not 0 < args.port < 65536:
        raise SystemExit(f'--port must be in 1..65535, got {args.port}')

    import uvicorn
    torch.manual_seed(0)
    # The page shows panoptic results only: skip the instance results.
    model = build_model(args.config, args.checkpoint, args.device,
                        random_weights=args.random_weights,
                        unsafe_load=args.unsafe_load,
                        cfg_options={'model.test_cfg.instance_on': False})
    calibration = None
    if args.precision == 'int8':
        if not (args.calibration_images or args.image):
            raise SystemExit('--precision int8 needs --calibration-images '
                             '(or --image): a handful of images like those '
                             'to come')
        calibration = image_files(args.calibration_images or [args.image])
    predictor = RapSAMPredictor(model, scale=tuple(args.scale),
                                precision=args.precision,
                                calibration_images=calibration)
    if args.allowed_hosts and not args.allow_remote:
        raise SystemExit('--allowed-hosts needs --allow-remote')
    app = create_app(
        predictor, max_upload_bytes=int(args.max_upload_mb * 2**20),
        default_image=args.image,
        allowed_hosts=[*LOOPBACK_NAMES, args.host, *args.allowed_hosts])
    host = f'[{args.host}]' if ':' in args.host else args.host
    print(f'RAP-SAM web demo on http://{host}:{args.port}  (Ctrl+C stops)')
    uvicorn.run(app, host=args.host, port=args.port, log_level='info')


if __name__ == '__main__':
    main()
