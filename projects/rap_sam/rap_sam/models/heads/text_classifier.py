"""Open-vocabulary classification by cosine similarity to text embeddings."""
import logging
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor

from mmdet.registry import MODELS
from ..utils.class_embeddings import (load_class_embeddings,
                                      random_class_embeddings)


@MODELS.register_module()
class OpenVocabClassifier(nn.Module):
    """Scores query embeddings against CLIP text embeddings of class names.

    ``logit[c] = exp(logit_scale) * max_s cos(q, e[c, s])`` over the
    synonyms ``s`` of class ``c``; the background class is a zero embedding,
    so its logit is always 0 (the layout of the official RAP-SAM code).
    The embeddings are non-persistent buffers: a checkpoint carries no
    vocabulary, and the same weights classify any class list for which an
    embedding file exists (build one with ``tools/build_text_embeddings.py``).

    Args:
        embedding_file (str, optional): ``.pth`` file of text embeddings
            (see :func:`load_class_embeddings`).
        class_names (Sequence[str], optional): Classes in label order; the
            file's embeddings are reordered to match and a name missing
            from the file is an error. Defaults to the file's classes.
        num_classes (int, optional): Number of classes of random
            embeddings when ``class_names`` is not given.
        embed_dims (int, optional): Text embedding dims; a file of another
            size is an error. None takes the file's. Defaults to 768
            (open_clip ``convnext_large_d_320``).
        random_embeddings (bool): Use seeded random embeddings instead of a
            file, even when ``embedding_file`` is set (and absent): to build
            any config for inspection (speed, FLOPs, export, a smoke run)
            with ``--cfg-options
            model.panoptic_head.classifier.random_embeddings=True``. Class
            predictions are then meaningless; a warning says so. Defaults
            to False.
        num_synonyms (int): Synonyms per class of random embeddings.
        logit_scale (float): Log of the logit multiplier. Defaults to
            4.6052 (official; ``exp`` of it is 100.003).
    """

    def __init__(self,
                 embedding_file: Optional[str] = None,
                 class_names: Optional[Sequence[str]] = None,
                 num_classes: Optional[int] = None,
                 embed_dims: Optional[int] = 768,
                 random_embeddings: bool = False,
                 num_synonyms: int = 2,
                 logit_scale: float = 4.6052) -> None:
        super().__init__()
        if random_embeddings:
            print_log(
                'OpenVocabClassifier: random class embeddings '
                '(random_embeddings=True' +
                (f'; {embedding_file} not read' if embedding_file else '') +
                '): class predictions are meaningless, for inspection only',
                logger='current', level=logging.WARNING)
        if embedding_file is not None and not random_embeddings:
            embeds, names = load_class_embeddings(embedding_file, class_names)
        elif random_embeddings:
            names = list(class_names) if class_names is not None else [
                f'class_{i}' for i in range(num_classes or 0)
            ]
            if not names:
                raise ValueError('random embeddings need class_names or '
                                 'num_classes')
            embeds = random_class_embeddings(
                len(names), num_synonyms, embed_dims or 768, seed=0)
        else:
            raise ValueError(
                'OpenVocabClassifier needs `embedding_file` (build it with '
                'tools/build_text_embeddings.py) or, for tests only, '
                '`random_embeddings=True`.')
        if embed_dims is None:
            embed_dims = embeds.shape[-1]
        if embeds.shape[-1] != embed_dims:
            raise ValueError(
                f'{embedding_file}: embeddings have {embeds.shape[-1]} dims '
                f'but the model projects queries to embed_dims={embed_dims}')
        self.class_names = list(names)
        embeds = F.normalize(embeds.float(), dim=-1)
        background = embeds.new_zeros(1, *embeds.shape[1:])
        # (num_classes + 1, num_synonyms, embed_dims)
        self.register_buffer(
            'class_embeddings', torch.cat([embeds, background]),
            persistent=False)
        self.register_buffer(
            'logit_scale', torch.tensor(float(logit_scale)), persistent=False)
        self.embed_dims = embed_dims

    @property
    def num_classes(self) -> int:
        """Number of foreground classes."""
        return self.class_embeddings.shape[0] - 1

    def forward(self, query_embeds: Tensor) -> Tensor:
        """Classify.

        Args:
            query_embeds (Tensor): (B, N, embed_dims) projected queries.

        Returns:
            Tensor: Logits (B, N, num_classes + 1), background last.
        """
        query_embeds = F.normalize(query_embeds, dim=-1)
        sims = torch.einsum('bnd,ksd->bnks', query_embeds,
                            self.class_embeddings)
        return sims.max(dim=-1).values * self.logit_scale.exp()
