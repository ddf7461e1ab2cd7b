"""Convert the official RAP-SAM R50 checkpoint to this project's layout.

Example::

    python tools/model_converters/rapsam_official_to_mmdet.py \
        rapsam_r50_12e.pth checkpoints/rap-sam_r50_official.pth
"""
import argparse
import os

import torch

from rap_sam.converters import convert_state_dict


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (local path)')
    parser.add_argument('dst', help='output checkpoint')
    args = parser.parse_args()
    if not os.path.isfile(args.src):
        raise SystemExit(f'checkpoint not found: {args.src}')
    ckpt = torch.load(args.src, map_location='cpu', weights_only=False)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise SystemExit(f'{args.src}: no state_dict in the checkpoint')
    converted, dropped = convert_state_dict(state)
    meta = dict(ckpt.get('meta', {}), converted_from=args.src)
    tmp = args.dst + '.tmp'
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    torch.save(dict(state_dict=converted, meta=meta), tmp)
    os.replace(tmp, args.dst)
    print(f'{len(converted)} tensors written to {args.dst}; dropped '
          f'{len(dropped)} (rebuilt from the embedding file): {dropped}')


if __name__ == '__main__':
    main()
