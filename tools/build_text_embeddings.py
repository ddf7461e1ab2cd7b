"""Build the CLIP text embeddings of a class vocabulary for RAP-SAM.

Encodes every synonym of every class with an open_clip text tower, averages
over prompt templates and writes the file that
``rap_sam.models.utils.class_embeddings.load_class_embeddings`` reads.

Nothing is downloaded: the weights come from a local open_clip checkpoint
(``--checkpoint``), or are random (``--random-weights``, for tests only).

Example::

    python tools/build_text_embeddings.py --vocab coco_ytvis2019 \\
        --checkpoint checkpoints/convnext_large_d_320_laion2b.bin \\
        --out data/text_embeddings/convnext_large_d_320_coco_ytvis2019.pth
"""
import argparse
import os
import os.path as osp
import time
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rap_sam.datasets.class_names import (VOCABULARIES, Vocabulary,
                                          build_vocabulary, canonical_text)
from rap_sam.models.utils.class_embeddings import save_class_embeddings

Tokenizer = Callable[[List[str]], Tensor]
DEFAULT_TEMPLATES = (
    'a photo of a {}.',
    'a photo of the {}.',
    'a photo of one {}.',
    'a photo of many {}.',
    'a good photo of a {}.',
    'a close-up photo of the {}.',
    'there is a {} in the scene.',
    'this is a {} in the scene.',
)
RANDOM_WEIGHTS = 'random'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse and check the command line; usage errors exit with code 2."""
    parser = argparse.ArgumentParser(
        description='Build CLIP text embeddings of class names (offline).')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        '--vocab',
        choices=sorted(VOCABULARIES),
        help='a built-in vocabulary')
    source.add_argument(
        '--class-names',
        metavar='FILE',
        help='one class per line: its name, then comma-separated synonyms')
    parser.add_argument(
        '--model',
        default='convnext_large_d_320',
        help='open_clip model name (default: %(default)s)')
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument(
        '--checkpoint',
        metavar='PATH',
        help='local open_clip checkpoint of --model')
    weights.add_argument(
        '--random-weights',
        action='store_true',
        help='use randomly initialised weights (for tests only)')
    parser.add_argument('--out', required=True, help='output .pth file')
    parser.add_argument(
        '--seed', type=int, default=0,
        help='seed of --random-weights: files of different vocabularies '
        'built with one seed embed the same text the same way')
    parser.add_argument(
        '--batch-size',
        type=int,
        default=256,
        help='prompts encoded at once (default: %(default)s)')
    parser.add_argument(
        '--device', default='cpu', help='torch device (default: cpu)')
    args = parser.parse_args(argv)
    if args.checkpoint is None and not args.random_weights:
        parser.error('--checkpoint PATH is required: this tool never '
                     'downloads weights. Give a local open_clip checkpoint '
                     f'of {args.model!r} (or --random-weights for tests).')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        parser.error(f'--checkpoint {args.checkpoint}: no such file')
    if args.batch_size < 1:
        parser.error('--batch-size must be positive')
    model_error = offline_model_error(args.model)
    if model_error:
        parser.error(model_error)
    return args


def read_class_names(path: str) -> Vocabulary:
    """Read a vocabulary file: ``name[, synonym, ...]`` per line.

    Blank lines and lines starting with ``#`` are skipped. The class name
    is also its first text name.
    """
    entries = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            items = [item.strip() for item in line.split(',')]
            items = [item for item in items if item]
            if items and not items[0].startswith('#'):
                entries.append(
                    (items[0], [canonical_text(item) for item in items]))
    if not entries:
        raise ValueError(f'{path}: no class names found')
    name = osp.splitext(osp.basename(path))[0]
    return build_vocabulary(name, entries)


def offline_model_error(model_name: str) -> Optional[str]:
    """Why ``model_name`` cannot be built offline, or None if it can.

    open_clip's own SimpleTokenizer ships its BPE vocabulary in the package;
    Hugging Face and SigLIP tokenizers are fetched from the hub.
    """
    import open_clip
    config = open_clip.get_model_config(model_name)
    if config is None:
        return (f'unknown open_clip model {model_name!r}; see '
                'open_clip.list_models()')
    text_cfg = config.get('text_cfg', {})
    if ('hf_tokenizer_name' in text_cfg or 'hf_model_name' in text_cfg
            or 'siglip' in model_name.lower()):
        return (f'open_clip model {model_name!r} needs a Hugging Face '
                'tokenizer or text model, which would have to be '
                "downloaded; use a model with open_clip's built-in "
                'tokenizer (e.g. convnext_large_d_320)')
    return None


def build_model(model_name: str, checkpoint: Optional[str],
                device: str) -> nn.Module:
    """Create the open_clip model from a local checkpoint or at random."""
    import open_clip

    # An absolute path can never be mistaken for a pretrained tag, which
    # open_clip would download.
    pretrained = osp.abspath(checkpoint) if checkpoint else None
    model = open_clip.create_model(
        model_name,
        pretrained=pretrained,
        device=device,
        pretrained_image=False,
        pretrained_text=False)
    return model.eval()


@torch.no_grad()
def encode_vocabulary(model: nn.Module, tokenizer: Tokenizer,
                      vocab: Vocabulary, templates: Sequence[str],
                      batch_size: int, device: str) -> Tensor:
    """Encode every synonym of every class, averaged over templates.

    Returns:
        Tensor: [num_classes, max_num_synonyms, dim], L2-normalised; classes
        with fewer synonyms repeat theirs cyclically.
    """
    texts = [syn for syns in vocab.synonyms for syn in syns]
    prompts = [template.format(text) for text in texts
               for template in templates]
    features = []
    for start in range(0, len(prompts), batch_size):
        tokens = tokenizer(prompts[start:start + batch_size]).to(device)
        features.append(
            F.normalize(model.encode_text(tokens).float(), dim=-1).cpu())
    per_text = torch.cat(features).view(len(texts), len(templates), -1)
    per_text = F.normalize(per_text.mean(dim=1), dim=-1)
    return _pad_synonyms(per_text, [len(syns) for syns in vocab.synonyms])


def _pad_synonyms(per_text: Tensor, counts: List[int]) -> Tensor:
    num_synonyms = max(counts)
    rows, start = [], 0
    for count in counts:
        cycle = torch.arange(num_synonyms) % count
        rows.append(per_text[start + cycle])
        start += count
    return torch.stack(rows)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Build the class embedding file the command line asks for."""
    # Belt and braces: the argument checks already avoid every download.
    os.environ['HF_HUB_OFFLINE'] = '1'
    os.environ['TRANSFORMERS_OFFLINE'] = '1'
    args = parse_args(argv)
    vocab = (
        VOCABULARIES[args.vocab]
        if args.vocab else read_class_names(args.class_names))
    import open_clip

    start = time.perf_counter()
    import torch
    torch.manual_seed(args.seed)
    model = build_model(args.model, args.checkpoint, args.device)
    tokenizer = open_clip.get_tokenizer(args.model)
    embeddings = encode_vocabulary(model, tokenizer, vocab,
                                   DEFAULT_TEMPLATES, args.batch_size,
                                   args.device)
    pretrained = (
        osp.abspath(args.checkpoint) if args.checkpoint else RANDOM_WEIGHTS)
    save_class_embeddings(args.out, embeddings, vocab.classes, args.model,
                          pretrained, DEFAULT_TEMPLATES)
    print(f'Wrote {args.out}: {len(vocab)} classes of {vocab.name!r}, '
          f'embeddings {tuple(embeddings.shape)}, model {args.model} '
          f'({pretrained}), {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
