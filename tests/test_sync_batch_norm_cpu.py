"""SyncBNCPU: two gloo processes normalise as one BatchNorm2d over the
whole batch (outputs, gradients, running statistics)."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

from rap_sam.models.layers import SyncBatchNormCPU


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _batch():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 5, 6, generator=gen) * 3 + 2
    weight = torch.randn(4, 3, 5, 6, generator=gen)
    return x, weight


def _worker(rank: int, port: int, out: dict) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    torch.manual_seed(0)
    layer = SyncBatchNormCPU(3)
    nn.init.uniform_(layer.weight, 0.5, 1.5)
    nn.init.uniform_(layer.bias, -1, 1)
    x, weight = _batch()
    mine = slice(2 * rank, 2 * rank + 2)
    x = x[mine].clone().requires_grad_()
    y = layer(x)
    # Each rank's loss is its part of the whole batch's loss.
    (y * weight[mine]).sum().backward()
    out[rank] = dict(y=y.detach(), x_grad=x.grad,
                     w_grad=layer.weight.grad, b_grad=layer.bias.grad,
                     running_mean=layer.running_mean.clone(),
                     running_var=layer.running_var.clone())
    dist.destroy_process_group()


def test_two_processes_normalise_as_one_batch():
    torch.manual_seed(0)
    reference = nn.BatchNorm2d(3)
    nn.init.uniform_(reference.weight, 0.5, 1.5)
    nn.init.uniform_(reference.bias, -1, 1)
    x, weight = _batch()
    x.requires_grad_()
    y = reference(x)
    (y * weight).sum().backward()

    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(_free_port(), out), nprocs=2)
        out = dict(out)
    torch.testing.assert_close(torch.cat([out[0]['y'], out[1]['y']]),
                               y.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        torch.cat([out[0]['x_grad'], out[1]['x_grad']]), x.grad,
        rtol=1e-4, atol=1e-5)
    # Parameter gradients: the sum over ranks (DDP averages, and each
    # rank's loss here is a part, not a mean, of the whole).
    for key, ref in (('w_grad', reference.weight.grad),
                     ('b_grad', reference.bias.grad)):
        torch.testing.assert_close(out[0][key] + out[1][key], ref,
                                   rtol=1e-4, atol=1e-4)
    for rank in (0, 1):
        torch.testing.assert_close(out[rank]['running_mean'],
                                   reference.running_mean)
        torch.testing.assert_close(out[rank]['running_var'],
                                   reference.running_var)


def test_one_process_and_eval_are_batch_norm():
    torch.manual_seed(0)
    layer, reference = SyncBatchNormCPU(3), nn.BatchNorm2d(3)
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(layer(x), reference(x))
    layer.eval(), reference.eval()
    torch.testing.assert_close(layer(x), reference(x))
    with pytest.raises(ValueError, match='got 3D'):
        layer.train()(torch.randn(2, 3, 4))


def test_built_from_config_name():
    from mmcv.cnn import build_norm_layer
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        _, layer = build_norm_layer(dict(type='SyncBNCPU'), 8)
    assert isinstance(layer, SyncBatchNormCPU)
