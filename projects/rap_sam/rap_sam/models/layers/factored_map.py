"""A feature map kept as a thin basis and the 1x1 projection that widens it."""
from typing import Callable

import torch
from torch import Tensor


class FactoredMap:
    """A (B, C, H, W) map kept as ``weight @ basis``, computed only on
    request (:meth:`materialize`).

    A 1x1 convolution at the end of a neck widens a K-channel map to C
    channels. Products with the map then factor through the thin basis:
    ``q . (W f) = (W^T q) . f`` (mask logits, attention scores) and
    ``sum_p a_p W f_p = W sum_p a_p f_p`` (pooling, attended values), so
    the decoder multiplies K-channel pixels instead of C-channel ones and
    the widened map is never written. The basis carries the conv's bias
    and any affine per-pixel term as channels of its own (a constant 1,
    coordinates) with their columns in ``weight``.

    Args:
        basis (Tensor): (B, K, H, W), either memory format.
        weight (Tensor): (C, K), the projection: the map is
            ``einsum('ck,bkhw->bchw', weight, basis)``.
    """

    def __init__(self, basis: Tensor, weight: Tensor) -> None:
        if basis.dim() != 4 or weight.dim() != 2 or \
                weight.shape[1] != basis.shape[1]:
            raise ValueError(
                f'a (C, K) weight projects a (B, K, H, W) basis, got '
                f'{tuple(weight.shape)} and {tuple(basis.shape)}')
        self.basis = basis
        self.weight = weight

    @property
    def shape(self) -> torch.Size:
        """(B, C, H, W), the shape of the map it stands for."""
        b, _, h, w = self.basis.shape
        return torch.Size((b, self.weight.shape[0], h, w))

    @property
    def device(self) -> torch.device:
        return self.basis.device

    @property
    def dtype(self) -> torch.dtype:
        return self.basis.dtype

    def __getitem__(self, images: slice) -> 'FactoredMap':
        """The images ``images`` (a slice of the batch), as ``map[i:j]``."""
        if not isinstance(images, slice):
            raise TypeError('a FactoredMap takes a slice of its images, got '
                            f'{images!r}')
        return self.map_basis(lambda basis: basis[images])

    def to(self, dtype: torch.dtype) -> 'FactoredMap':
        """The basis in ``dtype`` (the projection stays as it is)."""
        return self.map_basis(lambda basis: basis.to(dtype))

    def map_basis(self, fn: Callable[[Tensor], Tensor]) -> 'FactoredMap':
        """The same projection of ``fn(basis)``, for a change of dtype,
        layout or arrangement of the pixels (e.g. frames into one clip)
        that keeps the channels as they are."""
        return FactoredMap(fn(self.basis), self.weight)

    def materialize(self) -> Tensor:
        """The map, (B, C, H, W) in the basis' dtype and memory format."""
        b, k, h, w = self.basis.shape
        rows = self.basis.permute(0, 2, 3, 1).reshape(-1, k)
        out = torch.mm(rows, self.weight.to(rows.dtype).t())
        return out.view(b, h, w, -1).permute(0, 3, 1, 2).contiguous(
            memory_format=torch.channels_last if self.basis.
            is_contiguous(memory_format=torch.channels_last)
            and not self.basis.is_contiguous() else torch.contiguous_format)
