"""Where RAP-SAM's time goes: a torch.profiler breakdown by part."""
import time
from contextlib import contextmanager
from typing import (Callable, ContextManager, Dict, Iterator, List,
                    Sequence, Tuple)

import torch
import torch.nn as nn
from torch.profiler import ProfilerActivity, profile, record_function

from .measure import time_it

#: Sections of the breakdown, in the order of the forward pass.
SECTIONS = ('backbone', 'neck', 'prompt encoder', 'decoder stages',
            'object adapter', 'prompt adapter', 'head (other)',
            'fusion (post-processing)', 'prompt masks to image')


#: Sections of a training iteration's breakdown, in their order.
TRAINING_SECTIONS = ('data preprocessor', 'backbone', 'neck',
                     'prompt encoder', 'decoder stages', 'object adapter',
                     'prompt adapter', 'losses', 'backward',
                     'optimizer step')


def _decoder_parts(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    head = model.panoptic_head
    return [
        ('backbone', model.backbone), ('neck', model.neck),
        ('prompt encoder', head.prompt_encoder),
        ('object adapter', head.object_adapter),
        ('prompt adapter', head.prompt_adapter)
    ] + [('decoder stages', stage) for stage in head.stages]


@contextmanager
def _ranges(modules: Sequence[Tuple[str, nn.Module]],
            methods: Sequence[Tuple[object, str, str]]) -> Iterator[None]:
    """Wrap parts in ``record_function`` ranges named ``#part``.

    Args:
        modules: (name, module) pairs: forward pre / post hooks.
        methods: (owner, attribute, name): the bound method wrapped on the
            instance, restored on exit.
    """
    handles, open_ranges = [], {}

    def pre(name):
        def hook(module, args):
            rng = record_function(f'#{name}')
            rng.__enter__()
            open_ranges[id(module)] = rng
        return hook

    def post(module, args, output):
        open_ranges.pop(id(module)).__exit__(None, None, None)

    for name, module in modules:
        handles.append(module.register_forward_pre_hook(pre(name)))
        handles.append(module.register_forward_hook(post))

    def wrap(owner, attr, name):
        original = getattr(owner, attr)

        def wrapped(*args, **kwargs):
            with record_function(f'#{name}'):
                return original(*args, **kwargs)

        setattr(owner, attr, wrapped)

    for owner, attr, name in methods:
        wrap(owner, attr, name)
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        for owner, attr, _ in methods:
            delattr(owner, attr)


def _labelled(model: nn.Module) -> ContextManager[None]:
    """The parts of a RAP-SAM prediction: its modules, ``head.predict`` and
    the fusion head's ``predict`` (objects) and ``predict_prompts``."""
    fusion = model.panoptic_fusion_head
    return _ranges(_decoder_parts(model), [
        (model.panoptic_head, 'predict', 'head predict'),
        (fusion, 'predict', 'fusion (post-processing)'),
        (fusion, 'predict_prompts', 'prompt masks to image')
    ])


def _range_times(prof: profile) -> Dict[str, float]:
    """Total ms of each ``#part`` range."""
    return {
        e.key[1:]: e.cpu_time_total / 1e3
        for e in prof.key_averages() if e.key.startswith('#')
    }


def _breakdown(prof: profile, sections: Dict[str, float], total_ms: float,
               row_limit: int) -> Dict[str, object]:
    """The result of a profile: the sections plus 'other' (the rest of
    ``total_ms``) and the costliest operators by self time."""
    sections['other'] = max(0., total_ms - sum(sections.values()))
    return dict(
        total_ms=total_ms,
        sections=sections,
        ops=prof.key_averages().table(
            sort_by='self_cpu_time_total', row_limit=row_limit))


def profile_breakdown(model: nn.Module, fn: Callable[[], object],
                      row_limit: int = 15) -> Dict[str, object]:
    """Profile one call of ``fn`` (a RAP-SAM prediction) by part.

    Args:
        model (nn.Module): The RAP-SAM model ``fn`` runs.
        fn (Callable): One prediction (e.g. panoptic + 10 clicks).
        row_limit (int): Operators listed.

    Returns:
        dict: ``total_ms`` (profiled wall time), ``sections`` ({part: ms},
        see :data:`SECTIONS`; 'head (other)' is ``head.predict`` minus
        the decoder parts inside it) and ``ops`` (the profiler's table of
        the most expensive operators by self time).
    """
    fn()
    with _labelled(model):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            fn()
            total = time.perf_counter() - start
    times = _range_times(prof)
    inside = sum(
        times.get(k, 0.) for k in ('prompt encoder', 'decoder stages',
                                   'object adapter', 'prompt adapter'))
    sections = {k: times[k] for k in SECTIONS if k in times}
    if 'head predict' in times:
        sections['head (other)'] = max(0., times['head predict'] - inside)
    sections = {k: sections[k] for k in SECTIONS if k in sections}
    return _breakdown(prof, sections, total * 1e3, row_limit)


def profile_training(model: nn.Module, optim_wrapper, data: dict,
                     iters: int = 3,
                     row_limit: int = 15) -> Dict[str, object]:
    """Profile training iterations (``model.train_step``) by part.

    Args:
        model (nn.Module): A RAP-SAM model in train mode.
        optim_wrapper (OptimWrapper): Its optimiser wrapper.
        data (dict): A batch, as the data loader gives it.
        iters (int): Profiled iterations, after one unprofiled.
        row_limit (int): Operators listed.

    Returns:
        dict: ``total_ms`` (wall time of an iteration, mean), ``sections``
        ({part: ms per iteration}, see :data:`TRAINING_SECTIONS`;
        'losses' are the matchings and the losses of the objects and
        prompts, 'backward' every gradient, 'optimizer step' gradient
        clipping, the update and zeroing; 'other' the rest) and ``ops``
        (the profiler's table by self time, over all iterations).
    """
    head = model.panoptic_head
    model.train_step(data, optim_wrapper)
    modules = [('data preprocessor', model.data_preprocessor),
               ('losses', head.prompt_loss)] + _decoder_parts(model)
    methods = [(head, 'loss_by_feat', 'losses'),
               (optim_wrapper, 'backward', 'backward'),
               (optim_wrapper, 'step', 'optimizer step'),
               (optim_wrapper, 'zero_grad', 'optimizer step')]
    with _ranges(modules, methods):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            for _ in range(iters):
                model.train_step(data, optim_wrapper)
            total = (time.perf_counter() - start) / iters
    times = _range_times(prof)
    sections = {
        k: times[k] / iters
        for k in TRAINING_SECTIONS if k in times
    }
    return _breakdown(prof, sections, total * 1e3, row_limit)


def compare_deform_impls(model: nn.Module, x: torch.Tensor,
                         repeat: int = 3) -> Dict[str, Dict[str, float]]:
    """Time the neck with each deformable conv kernel on the same input.

    The offsets are perturbed (random offset-conv weights, seeded) so that
    bilinear sampling is exercised; the model is restored afterwards.

    Returns:
        dict: {impl: {'median_ms', 'max_abs_diff'}} against 'torchvision'.
    """
    from rap_sam.models.layers import ModulatedDeformConv2d
    convs = [m for m in model.neck.modules()
             if isinstance(m, ModulatedDeformConv2d)]
    saved = [(c.impl, c.offset_conv.weight.detach().clone()) for c in convs]
    gen = torch.Generator().manual_seed(0)
    results = {}
    try:
        # fp32 whatever the run's precision: torchvision's CPU kernel has
        # no bf16.
        with torch.no_grad(), torch.autocast('cpu', enabled=False):
            for c in convs:
                c.offset_conv.weight.copy_(
                    torch.randn(c.offset_conv.weight.shape, generator=gen) *
                    0.01)
            feats = model.backbone(x)
            ref = None
            for impl in ('torchvision', 'grid_sample', 'gather'):
                for c in convs:
                    c.impl = impl
                out = model.neck(feats)[0]
                stats = time_it(lambda: model.neck(feats), 'cpu', repeat,
                                warmup=0)
                ref = out if ref is None else ref
                results[impl] = dict(
                    median_ms=stats['median_s'] * 1e3,
                    max_abs_diff=float((out - ref).abs().max()))
    finally:
        with torch.no_grad():
            for c, (impl, weight) in zip(convs, saved):
                c.impl = impl
                c.offset_conv.weight.copy_(weight)
    return results


def breakdown_table(result: Dict[str, object]) -> str:
    """Markdown table of :func:`profile_breakdown`'s sections."""
    total = result['total_ms']
    lines = ['| part | ms | share |', '|---|---|---|']
    for name, ms in result['sections'].items():
        lines.append(f'| {name} | {ms:.1f} | {100 * ms / total:.0f}% |')
    lines.append(f'| total (profiled) | {total:.1f} | 100% |')
    return '\n'.join(lines)
