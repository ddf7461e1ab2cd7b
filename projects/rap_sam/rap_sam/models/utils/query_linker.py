"""Linking object queries across frames or clips (MinVIS style)."""
from typing import Optional

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor


class QueryLinker:
    """Keeps query slots consistent over time by matching embeddings.

    Each new set of N query embeddings is matched one-to-one to the slots of
    the previous step by Hungarian matching on cosine similarity (MinVIS:
    queries of a per-frame model are already consistent enough to be
    tracks). The memory is the N slot embeddings, a running average, so it
    stays constant however long the video.

    Args:
        momentum (float): Weight of the previous slot embedding in the
            running average. 0 keeps only the latest. Defaults to 0.5.
    """

    def __init__(self, momentum: float = 0.5) -> None:
        self.momentum = momentum
        self.slots: Optional[Tensor] = None

    def reset(self) -> None:
        self.slots = None

    @torch.no_grad()
    def link(self, embeds: Tensor) -> Tensor:
        """Order this step's queries by slot.

        Args:
            embeds (Tensor): (N, C) query embeddings of this step.

        Returns:
            Tensor: (N,) long, ``perm`` such that ``embeds[perm[s]]`` is the
            query that continues slot ``s``.
        """
        n = embeds.shape[0]
        if self.slots is None:
            perm = torch.arange(n, device=embeds.device)
        else:
            sim = F.normalize(self.slots, dim=-1) @ F.normalize(
                embeds, dim=-1).T
            rows, cols = linear_sum_assignment(-sim.float().cpu().numpy())
            perm = torch.empty(n, dtype=torch.long)
            perm[torch.as_tensor(rows)] = torch.as_tensor(cols)
            perm = perm.to(embeds.device)
        ordered = embeds[perm]
        if self.slots is None or self.momentum == 0:
            self.slots = ordered.clone()
        else:
            self.slots = self.momentum * self.slots + (
                1 - self.momentum) * ordered
        return perm
