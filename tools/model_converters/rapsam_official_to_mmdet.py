"""Convert the official RAP-SAM R50 checkpoint to this project's layout.

Example::

    python tools/model_converters/rapsam_official_to_mmdet.py \
        rapsam_r50_12e.pth checkpoints/rap-sam_r50_official.pth
"""
import argparse
import os

import torch

from rap_sam.model_converters import convert_state_dict
from rap_sam.utils import load_checkpoint


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (local path)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--unsafe-load', action='store_true',
        help='unpickle the source fully (runs any code it holds): only for a'
        ' file you trust')
    args = parser.parse_args()
    try:
        ckpt = load_checkpoint(args.src, unsafe=args.unsafe_load)
    except (OSError, ValueError, RuntimeError) as err:
        raise SystemExit(str(err))
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
