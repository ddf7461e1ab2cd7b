"""Write small synthetic COCO-panoptic and YouTube-VIS datasets.

Example::

    python tools/dataset_converters/make_synthetic.py data/synthetic --seed 0
"""
import argparse

from rap_sam.datasets.converters import make_synthetic


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', help='gets coco_panoptic/ and '
                        'youtube_vis/')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    for name, paths in make_synthetic(args.out_dir, args.seed).items():
        print(f'{name}: {paths["ann_file"]}')


if __name__ == '__main__':
    main()
