"""Build the CLIP text embeddings of a class vocabulary for RAP-SAM.

Encodes every synonym of every class with an open_clip text tower, averages
over prompt templates and writes the file that
``rap_sam.models.utils.class_embeddings.load_class_embeddings`` reads.

The weights come from one of:

* ``--pretrained TAG``: open_clip's published weights of ``--model`` (see
  ``open_clip.list_pretrained_tags_by_model``), downloaded by open_clip from
  the Hugging Face Hub into its cache, or taken from that cache. Offline,
  with no cached copy, the tool fails within seconds (exit code 1) and says
  which file to fetch by hand for ``--checkpoint``.
* ``--checkpoint PATH``: a local open_clip checkpoint of ``--model``; nothing
  is downloaded.
* ``--random-weights``: random weights, for tests only.

Examples::

    python tools/build_text_embeddings.py --vocab coco_panoptic \\
        --model convnext_large_d_320 --pretrained laion2b_s29b_b131k_ft_soup \\
        --out data/embeddings/coco_panoptic_convnext_large_d_320.pth

    # Offline: the file the download would fetch, copied by hand from the
    # repository laion/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft-soup
    # of https://huggingface.co
    python tools/build_text_embeddings.py --vocab coco_panoptic \\
        --model convnext_large_d_320 \\
        --checkpoint checkpoints/open_clip_pytorch_model.bin \\
        --out data/embeddings/coco_panoptic_convnext_large_d_320.pth
"""
import argparse
import contextlib
import os.path as osp
import shlex
import sys
import time
import urllib.request
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rap_sam.datasets.class_names import (VOCABULARIES, Vocabulary,
                                          build_vocabulary, canonical_text)
from rap_sam.models.utils.class_embeddings import (DEFAULT_CLIP_MODEL,
                                                   DEFAULT_CLIP_PRETRAINED,
                                                   save_class_embeddings)

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
# Seconds to wait for the download server before calling it unreachable.
PROBE_TIMEOUT = 5.0


class WeightsUnavailable(RuntimeError):
    """open_clip's published weights could neither be found nor fetched.

    Args:
        message (str): What failed and how to get the file by hand.
        filename (str): Name of the weights file to fetch by hand.
    """

    def __init__(self, message: str, filename: str) -> None:
        super().__init__(message)
        self.filename = filename


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse and check the command line; usage errors exit with code 2."""
    parser = argparse.ArgumentParser(
        description='Build CLIP text embeddings of class names.')
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
        default=DEFAULT_CLIP_MODEL,
        help='open_clip model name (default: %(default)s)')
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument(
        '--pretrained',
        metavar='TAG',
        help="open_clip's published weights of --model (e.g. "
        f'{DEFAULT_CLIP_PRETRAINED} for {DEFAULT_CLIP_MODEL}), downloaded '
        'by open_clip where the machine is online (or found in its cache)')
    weights.add_argument(
        '--checkpoint',
        metavar='PATH',
        help='local open_clip checkpoint of --model (no download)')
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
    if (args.pretrained is None and args.checkpoint is None
            and not args.random_weights):
        parser.error(
            'the weights are required: --pretrained TAG (published by '
            f'open_clip, e.g. --model {DEFAULT_CLIP_MODEL} --pretrained '
            f'{DEFAULT_CLIP_PRETRAINED}), or --checkpoint PATH (a local '
            f'open_clip checkpoint of {args.model!r}), or --random-weights '
            '(tests only)')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        parser.error(f'--checkpoint {args.checkpoint}: no such file')
    if args.batch_size < 1:
        parser.error('--batch-size must be positive')
    model_error = offline_model_error(args.model)
    if model_error:
        parser.error(model_error)
    if args.pretrained is not None:
        import open_clip
        if not open_clip.get_pretrained_cfg(args.model, args.pretrained):
            tags = open_clip.list_pretrained_tags_by_model(args.model)
            parser.error(
                f'--pretrained {args.pretrained}: not a tag of open_clip '
                f'model {args.model!r}; its tags are {tags or "none"}')
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


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Put huggingface_hub in offline mode (``HF_HUB_OFFLINE``) meanwhile.

    huggingface_hub reads the environment variable once, at import; its
    requests check ``huggingface_hub.constants.HF_HUB_OFFLINE`` each time,
    so this sets that and restores it afterwards. A request then fails at
    once, and a download returns a cached copy if there is one.
    """
    try:
        from huggingface_hub import constants
    except ImportError:  # open_clip then never uses the hub
        yield
        return
    offline = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = offline


def fetch_pretrained(model_name: str,
                     tag: str,
                     timeout: Optional[float] = None) -> str:
    """Local path of open_clip's published weights ``tag`` of a model.

    Goes through ``open_clip.pretrained.download_pretrained``, the function
    ``open_clip.create_model`` downloads with: first offline, for a copy in
    the Hugging Face cache; then, if the server answers a metadata request
    (``HEAD``, no retries) within ``timeout`` seconds, online. Without that
    check, huggingface_hub retries an unreachable server with backoff, for
    most of a minute, before giving up.

    Args:
        model_name (str): open_clip model name.
        tag (str): A tag of ``open_clip.list_pretrained_tags_by_model``.
        timeout (float, optional): Seconds to wait for the server. Defaults
            to None (``PROBE_TIMEOUT``).

    Returns:
        str: Path of the weights file.

    Raises:
        ValueError: If ``tag`` is not a tag of ``model_name``.
        WeightsUnavailable: If the weights are neither cached nor fetched.
    """
    from open_clip import pretrained as oc_pretrained
    cfg = oc_pretrained.get_pretrained_cfg(model_name, tag)
    if not cfg:
        raise ValueError(f'{tag!r} is not a tag of open_clip model '
                         f'{model_name!r}')
    timeout = PROBE_TIMEOUT if timeout is None else timeout
    urls, page, via_hub = _download_urls(cfg)
    filename = urls[-1].rsplit('/', 1)[-1]
    if via_hub:
        with hub_offline():
            try:
                path = oc_pretrained.download_pretrained(cfg)
            except Exception:  # not cached
                path = ''
        if path and osp.isfile(path):
            return path
    reason = _probe(urls, timeout, via_hub)
    if reason is None:
        try:
            path = oc_pretrained.download_pretrained(cfg)
        except Exception as error:
            reason = f'{type(error).__name__}: {error}'
        else:
            if path and osp.isfile(path):
                return path
            reason = f'open_clip returned no file ({path!r})'
    raise WeightsUnavailable(
        f"could not fetch open_clip's weights {tag!r} of model "
        f'{model_name!r}: they are not in the local cache, and the download '
        f'failed:\n  {reason}\nGet the file by hand on a machine with '
        f'internet access:\n  {urls[-1]}\n  (all files: {page})\nthen '
        'pass it with --checkpoint PATH instead of --pretrained TAG',
        filename)


def _download_urls(cfg: dict) -> Tuple[List[str], str, bool]:
    """Where ``download_pretrained`` fetches the weights of ``cfg`` from.

    Mirrors ``open_clip.pretrained.download_pretrained``: the Hugging Face
    Hub when huggingface_hub is installed and the tag has a hub entry (then
    ``.safetensors`` alternatives first), else the plain URL.

    Returns:
        tuple[list[str], str, bool]: The URLs in the order tried, the page
        that lists the files, and whether they are on the Hugging Face Hub.
    """
    from open_clip import pretrained as oc_pretrained
    if cfg.get('hf_hub') and oc_pretrained.has_hf_hub():
        from huggingface_hub import hf_hub_url
        model_id, filename = osp.split(cfg['hf_hub'])
        filename = filename or oc_pretrained.HF_WEIGHTS_NAME
        candidates = []
        alternatives = getattr(oc_pretrained, '_get_safe_alternatives', None)
        if alternatives and getattr(oc_pretrained, '_has_safetensors', False):
            candidates.extend(alternatives(filename))
        candidates.append(filename)
        urls = [hf_hub_url(model_id, name) for name in candidates]
        page = urls[-1].split('/resolve/', 1)[0] + '/tree/main'
        return urls, page, True
    url = cfg.get('url', '')
    return [url], url, False


def _probe(urls: Sequence[str], timeout: float,
           via_hub: bool) -> Optional[str]:
    """None if the server has one of ``urls``, else why not.

    One ``HEAD`` request per URL, without retries, through the proxies of
    the environment, as the download would go. A URL absent from a server
    that answers moves on to the next; any other failure ends the probe.
    """
    reason = 'no URL to download from'
    for url in urls:
        if via_hub:
            from huggingface_hub import get_hf_file_metadata
            from huggingface_hub.errors import RemoteEntryNotFoundError
            try:
                metadata = get_hf_file_metadata(url, timeout=timeout)
            except RemoteEntryNotFoundError as error:
                reason = f'{type(error).__name__}: {error} (HEAD {url})'
                continue
            except Exception as error:
                return f'{type(error).__name__}: {error} (HEAD {url})'
            if metadata.commit_hash is None:
                return ('the server answered, but not as the Hugging Face '
                        f'Hub: no commit hash (HEAD {url})')
            return None
        request = urllib.request.Request(url, method='HEAD')
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                return None
        except Exception as error:
            return f'{type(error).__name__}: {error} (HEAD {url})'
    return reason


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


def retry_command(args: argparse.Namespace, checkpoint: str) -> str:
    """The command line of ``args`` with ``--checkpoint`` for the weights."""
    source = (['--vocab', args.vocab]
              if args.vocab else ['--class-names', args.class_names])
    words = ['python', 'tools/build_text_embeddings.py', *source, '--model',
             args.model, '--checkpoint', checkpoint, '--out', args.out]
    return ' '.join(shlex.quote(word) for word in words)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Build the class embedding file the command line asks for.

    Exits with code 2 on a usage error, and with code 1 and a message on
    stderr (no traceback) when ``--pretrained`` weights cannot be fetched.
    """
    args = parse_args(argv)
    vocab = (
        VOCABULARIES[args.vocab]
        if args.vocab else read_class_names(args.class_names))
    import open_clip

    start = time.perf_counter()
    checkpoint = args.checkpoint
    if args.pretrained:
        try:
            checkpoint = fetch_pretrained(args.model, args.pretrained)
        except WeightsUnavailable as error:
            command = retry_command(args, f'/path/to/{error.filename}')
            print(f'build_text_embeddings.py: error: {error}:\n  {command}',
                  file=sys.stderr)
            raise SystemExit(1)
    torch.manual_seed(args.seed)
    # Belt and braces: the argument checks already avoid every download.
    with hub_offline():
        model = build_model(args.model, checkpoint, args.device)
        tokenizer = open_clip.get_tokenizer(args.model)
    embeddings = encode_vocabulary(model, tokenizer, vocab,
                                   DEFAULT_TEMPLATES, args.batch_size,
                                   args.device)
    if args.pretrained:
        pretrained = args.pretrained
    elif args.checkpoint:
        pretrained = osp.abspath(args.checkpoint)
    else:
        pretrained = RANDOM_WEIGHTS
    save_class_embeddings(args.out, embeddings, vocab.classes, args.model,
                          pretrained, DEFAULT_TEMPLATES)
    print(f'Wrote {args.out}: {len(vocab)} classes of {vocab.name!r}, '
          f'embeddings {tuple(embeddings.shape)}, model {args.model} '
          f'({pretrained}), {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
