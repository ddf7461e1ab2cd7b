"""On-disk format and loader of CLIP text embeddings of class names.

A class embedding file is a ``torch.save``-d dict::

    {
        'class_names': list[str],         # num_classes names, unique
        'embeddings': FloatTensor,        # [num_classes, num_synonyms, dim]
        'model': str,                     # open_clip model name
        'pretrained': str,                # checkpoint the text tower came from
        'templates': list[str],           # prompt templates, '{}' = the name
    }

Each ``embeddings[i, j]`` is the L2-normalised text embedding of the j-th
synonym of class i, averaged over the prompt templates. Classes with fewer
synonyms than ``num_synonyms`` repeat theirs cyclically, so a max over the
synonym axis is exact. The official RAP-SAM code stored the bare tensor; such
files load too when the caller gives the class names in the file's order.

Build a file with ``tools/build_text_embeddings.py``; :func:`build_command`
gives its command line for a file name of the configs.
"""
import os
import os.path as osp
import shlex
from collections import Counter
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

# The CLIP text tower of the official RAP-SAM embeddings: open_clip's model
# name and the tag of its published weights.
DEFAULT_CLIP_MODEL = 'convnext_large_d_320'
DEFAULT_CLIP_PRETRAINED = 'laion2b_s29b_b131k_ft_soup'
# Tags of the published weights this project uses, per open_clip model.
PRETRAINED_TAGS = {DEFAULT_CLIP_MODEL: DEFAULT_CLIP_PRETRAINED}


def load_class_embeddings(
    path: str,
    class_names: Optional[Sequence[str]] = None
) -> Tuple[Tensor, List[str]]:
    """Load class text embeddings, ordered like ``class_names`` if given.

    Args:
        path (str): A file in the format described in this module, or a
            raw tensor of shape [num_classes, num_synonyms, dim].
        class_names (Sequence[str], optional): The classes wanted, in the
            wanted order; a subset of the file's classes. Required for a
            raw tensor, which it names in order. Defaults to None (all
            classes of the file, in its order).

    Returns:
        tuple[Tensor, list[str]]: Float32 embeddings of shape
        [len(names), num_synonyms, dim], L2-normalised along the last axis,
        and the class names of their rows.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        TypeError: If the file holds neither a dict nor a tensor, or a field
            has the wrong type.
        KeyError: If the dict lacks ``'class_names'`` or ``'embeddings'``.
        ValueError: If the file cannot be read, the embeddings have the
            wrong shape or non-finite values, names are duplicated, or
            classes of ``class_names`` are absent from the file.
    """
    content = _read(path)
    if isinstance(content, Tensor):
        embeddings = content
        names = _names_of_raw_tensor(path, embeddings, class_names)
    elif isinstance(content, dict):
        embeddings, names = _fields_of_dict(path, content)
    else:
        raise TypeError(
            f'{path}: expected a dict with the fields class_names and '
            f'embeddings, or a tensor, got {type(content).__name__}')
    _check_embeddings(path, embeddings)
    embeddings = F.normalize(embeddings.float(), dim=-1)
    if class_names is None:
        return embeddings, names
    return _select(path, embeddings, names, list(class_names))


def save_class_embeddings(path: str,
                          embeddings: Tensor,
                          class_names: Sequence[str],
                          model: str,
                          pretrained: str,
                          templates: Sequence[str]) -> None:
    """Write a class embedding file atomically (temporary file + rename).

    Args:
        path (str): Destination file.
        embeddings (Tensor): [num_classes, num_synonyms, dim], normalised
            here along the last axis.
        class_names (Sequence[str]): One unique name per class.
        model (str): open_clip model name.
        pretrained (str): Where the model's weights came from.
        templates (Sequence[str]): Prompt templates used.
    """
    _check_embeddings(path, embeddings)
    if len(class_names) != embeddings.shape[0]:
        raise ValueError(
            f'{path}: {len(class_names)} class_names for '
            f'{embeddings.shape[0]} rows of embeddings')
    _check_unique_names(path, class_names)
    content = dict(
        class_names=list(class_names),
        embeddings=F.normalize(embeddings.detach().float().cpu(), dim=-1),
        model=model,
        pretrained=pretrained,
        templates=list(templates))
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp_path = osp.join(directory, f'.{osp.basename(path)}.{os.getpid()}.tmp')
    try:
        torch.save(content, tmp_path)
        os.replace(tmp_path, path)
    finally:
        if osp.exists(tmp_path):
            os.remove(tmp_path)


def random_class_embeddings(num_classes: int,
                            num_synonyms: int,
                            dim: int,
                            seed: int = 0) -> Tensor:
    """Random L2-normalised embeddings of shape [classes, synonyms, dim]."""
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(
        num_classes, num_synonyms, dim, generator=generator)
    return F.normalize(embeddings, dim=-1)


def build_command(path: str) -> str:
    """The command of ``tools/build_text_embeddings.py`` that writes ``path``.

    The configs name their files ``{vocab}_{model}.pth`` (e.g.
    ``data/embeddings/coco_panoptic_convnext_large_d_320.pth``): a built-in
    vocabulary followed by an open_clip model name. What cannot be inferred
    from ``path`` is left as a placeholder (``--class-names CLASSES.txt``
    for a file that is not a built-in vocabulary's, ``TAG``).

    Args:
        path (str): The class embedding file to build.

    Returns:
        str: A shell command with the published weights (``--pretrained``),
        followed by the ``--checkpoint`` alternative for offline machines.
    """
    vocab, model = _vocab_and_model_of(path)
    tag = PRETRAINED_TAGS.get(model, 'TAG')
    # a custom vocabulary comes from a class file (one class per line)
    source = f'--vocab {vocab}' if vocab else '--class-names CLASSES.txt'
    command = (f'python tools/build_text_embeddings.py {source} '
               f'--model {shlex.quote(model)} --pretrained {tag} '
               f'--out {shlex.quote(path)}')
    note = 'open_clip downloads the weights'
    if tag == 'TAG':
        note += (f', TAG is one of open_clip.list_pretrained_tags_by_model('
                 f'{model!r})')
    return (f'{command} ({note}; offline, give a local open_clip checkpoint '
            f'of {model} with --checkpoint PATH instead of --pretrained '
            f'{tag})')


def _vocab_and_model_of(path: str) -> Tuple[Optional[str], str]:
    """The built-in vocabulary and open_clip model a file name says."""
    stem = osp.splitext(osp.basename(path))[0]
    try:
        from rap_sam.datasets.class_names import VOCABULARIES
        vocab_names = sorted(VOCABULARIES, key=len, reverse=True)
    except Exception:  # only an error message depends on it
        vocab_names = []
    for vocab in vocab_names:
        if stem == vocab:
            return vocab, DEFAULT_CLIP_MODEL
        if stem.startswith(f'{vocab}_'):
            return vocab, stem[len(vocab) + 1:]
    return None, DEFAULT_CLIP_MODEL


def _read(path: str) -> object:
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Class embedding file {path} does not exist. Build it with: '
            f'{build_command(path)}')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:
        raise ValueError(
            f'{path}: cannot read it as a class embedding file '
            f'(torch.load failed: {error})') from error


def _names_of_raw_tensor(path: str, embeddings: Tensor,
                         class_names: Optional[Sequence[str]]) -> List[str]:
    if class_names is None:
        raise ValueError(
            f'{path} holds a raw tensor without class names: pass '
            'class_names (in the order of its rows) to load it')
    if embeddings.ndim >= 1 and len(class_names) != embeddings.shape[0]:
        raise ValueError(
            f'{path}: the raw embeddings tensor has {embeddings.shape[0]} '
            f'classes but {len(class_names)} class_names were given')
    _check_unique_names(path, class_names)
    return list(class_names)


def _fields_of_dict(path: str, content: dict) -> Tuple[Tensor, List[str]]:
    missing = [key for key in ('class_names', 'embeddings')
               if key not in content]
    if missing:
        raise KeyError(f'{path}: missing field(s) {missing}; found '
                       f'{sorted(map(str, content))}')
    embeddings, names = content['embeddings'], content['class_names']
    if not isinstance(embeddings, Tensor):
        raise TypeError(f'{path}: field embeddings must be a tensor, got '
                        f'{type(embeddings).__name__}')
    if (not isinstance(names, (list, tuple))
            or not all(isinstance(name, str) for name in names)):
        raise TypeError(f'{path}: field class_names must be a list of str')
    if embeddings.ndim >= 1 and len(names) != embeddings.shape[0]:
        raise ValueError(
            f'{path}: field class_names has {len(names)} names but field '
            f'embeddings has {embeddings.shape[0]} rows')
    _check_unique_names(path, names)
    return embeddings, list(names)


def _check_embeddings(path: str, embeddings: Tensor) -> None:
    if embeddings.ndim != 3:
        raise ValueError(
            f'{path}: field embeddings must have 3 dims [num_classes, '
            f'num_synonyms, dim], got shape {tuple(embeddings.shape)}')
    if embeddings.numel() == 0:
        raise ValueError(f'{path}: field embeddings is empty, shape '
                         f'{tuple(embeddings.shape)}')
    if not embeddings.is_floating_point():
        raise TypeError(f'{path}: field embeddings must be floating point, '
                        f'got {embeddings.dtype}')
    if not torch.isfinite(embeddings).all():
        raise ValueError(f'{path}: field embeddings has NaN or inf values')


def _check_unique_names(path: str, names: Sequence[str]) -> None:
    duplicates = sorted(
        name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise ValueError(f'{path}: duplicate class names {duplicates}')


def _select(path: str, embeddings: Tensor, names: List[str],
            wanted: List[str]) -> Tuple[Tensor, List[str]]:
    row_of = {name: row for row, name in enumerate(names)}
    missing = [name for name in wanted if name not in row_of]
    if missing:
        raise ValueError(
            f'{path}: field class_names lacks {len(missing)} of the '
            f'requested classes: {missing}')
    rows = torch.tensor([row_of[name] for name in wanted], dtype=torch.long)
    return embeddings[rows], wanted
