"""Tables, peer ratios, targets, JSON and a bar chart of benchmark rows.

A row is a dict with ``model``, ``task``, ``key`` (task@HxW),
``compare_to``, ``median_s``, ``iqr_s``, ``fps``, ``gflops``,
``peak_mb`` and ``params_m``.
"""
import json
import math
import textwrap
from typing import Dict, List, Optional, Sequence

Row = Dict[str, object]

#: (name, numerator key, denominator model, denominator key, limit): the
#: issue's targets; ``None`` as denominator model means the same RAP-SAM
#: model, ``'ms'`` an absolute limit in milliseconds.
TARGETS = (
    ('panoptic+10 clicks / Mask2Former-R50 panoptic',
     'panoptic+prompts(10)@800x1333', 'Mask2Former R50', 'panoptic@800x1333',
     0.10),
    ('panoptic+10 clicks / SAM ViT-B 10 clicks',
     'panoptic+prompts(10)@800x1333', 'SAM ViT-B', 'prompts(10)@800x1333',
     0.10),
    ('whole model (panoptic) / backbone', 'panoptic@800x1333', None,
     'backbone@800x1333', 1.6),
    ('whole model (panoptic+10 clicks) / backbone',
     'panoptic+prompts(10)@800x1333', None, 'backbone@800x1333', 1.6),
    ('re-prompt 10 clicks (ms)', 're-prompt(10)@1024x1024', 'ms', None, 30.),
    ('video frame / image (1280x736)', 'video frame@736x1280', None,
     'image@736x1280', 1.1),
)


def _fmt(value: Optional[float], digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    return f'{value:.{digits}f}'


def markdown_table(rows: Sequence[Row]) -> str:
    """All rows: latency (median, IQR), FPS, GFLOPs, params, peak memory."""
    lines = [
        '| model | task | input | median ms | IQR ms | FPS | GFLOPs | '
        'params M | peak MB |', '|---|---|---|---|---|---|---|---|---|'
    ]
    for r in rows:
        h, w = r['shape']
        note = f" ({r['note']})" if r.get('note') else ''
        lines.append(
            f"| {r['model']} | {r['task']}{note} | {w}x{h} | "
            f"{_fmt(r['median_s'] * 1e3)} | {_fmt(r['iqr_s'] * 1e3)} | "
            f"{_fmt(r['fps'], 2)} | {_fmt(r.get('gflops'))} | "
            f"{_fmt(r.get('params_m'), 2)} | {_fmt(r.get('peak_mb'), 0)} |")
    return '\n'.join(lines)


def _find(rows: Sequence[Row], model: str, key: str) -> Optional[Row]:
    return next((r for r in rows if r['model'] == model and r['key'] == key),
                None)


def peer_ratios(rows: Sequence[Row],
                rap_models: Sequence[str]) -> List[Dict[str, object]]:
    """Each peer row's latency over each RAP-SAM model's on its task.

    Returns:
        list[dict]: ``peer``, ``task``, ``rap_task`` and one
        ``{rap model: ratio}`` entry (None when that task is missing).
    """
    out = []
    for r in rows:
        if r['model'] in rap_models:
            continue
        target = r.get('compare_to') or r['key']
        ratios = {}
        for m in rap_models:
            base = _find(rows, m, target)
            ratios[m] = r['median_s'] / base['median_s'] if base else None
        out.append(
            dict(peer=r['model'], task=r['key'], rap_task=target,
                 ratios=ratios))
    return out


def ratio_table(ratios: Sequence[Dict[str, object]],
                rap_models: Sequence[str]) -> str:
    """Markdown: peer latency / RAP-SAM latency (above 1: RAP-SAM faster)."""
    head = ' | '.join(f'/ {m}' for m in rap_models)
    lines = [
        f'| peer | peer task | RAP-SAM task | {head} |',
        '|' + '---|' * (3 + len(rap_models))
    ]
    for r in ratios:
        vals = ' | '.join(
            f"{r['ratios'][m]:.2f}x" if r['ratios'][m] else '-'
            for m in rap_models)
        lines.append(f"| {r['peer']} | {r['task']} | {r['rap_task']} | "
                     f'{vals} |')
    return '\n'.join(lines)


def check_targets(rows: Sequence[Row],
                  rap_models: Sequence[str]) -> List[Dict[str, object]]:
    """Evaluate :data:`TARGETS` for each RAP-SAM model.

    Returns:
        list[dict]: ``model``, ``target``, ``value``, ``limit`` and ``met``
        (None when a row it needs is missing).
    """
    out = []
    for m in rap_models:
        for name, key, den_model, den_key, limit in TARGETS:
            num = _find(rows, m, key)
            value = None
            if num is not None and den_model == 'ms':
                value = num['median_s'] * 1e3
            elif num is not None:
                den = _find(rows, den_model or m, den_key)
                value = num['median_s'] / den['median_s'] if den else None
            out.append(
                dict(model=m, target=name, value=value, limit=limit,
                     met=None if value is None else value <= limit))
    return out


def efficiency_table(rows: Sequence[Row], rap_models: Sequence[str],
                     peak_gflops: float, precision: str) -> str:
    """Markdown table: each RAP-SAM model's effective GFLOP/s per task
    (FLOPs / median latency) and its share of the precision's GEMM peak."""
    lines = [
        f'| model | task | GFLOPs | GFLOP/s | % of the {precision} peak '
        f'({peak_gflops:.0f}) |', '|---|---|---|---|---|'
    ]
    for r in rows:
        if r['model'] not in rap_models or not r.get('gflops'):
            continue
        rate = r['gflops'] / r['median_s']
        lines.append(f"| {r['model']} | {r['task']} | {r['gflops']:.1f} | "
                     f'{rate:.0f} | {100 * rate / peak_gflops:.0f} % |')
    return '\n'.join(lines)


def target_table(targets: Sequence[Dict[str, object]]) -> str:
    """Markdown table of :func:`check_targets`: a row per target, a column
    per RAP-SAM model (e.g. one per precision), each value marked met or
    not (``-`` where a row it needs was not run)."""
    models = list(dict.fromkeys(t['model'] for t in targets))
    limits = {t['target']: t['limit'] for t in targets}
    by_key = {(t['model'], t['target']): t for t in targets}
    lines = [
        f"| target | limit | {' | '.join(models)} |",
        '|' + '---|' * (2 + len(models))
    ]
    for name, limit in limits.items():
        cells = []
        for m in models:
            t = by_key.get((m, name))
            if t is None or t['met'] is None:
                cells.append('-')
            else:
                cells.append(f"{_fmt(t['value'], 2)} "
                             f"({'met' if t['met'] else 'not met'})")
        lines.append(f"| {name} | {limit} | {' | '.join(cells)} |")
    return '\n'.join(lines)


def bar_chart(rows: Sequence[Row], path: str, title: str = '') -> None:
    """Grouped bars of median latency (log scale, IQR whiskers) per task."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = list(dict.fromkeys(r.get('compare_to') or r['key'] for r in rows))
    models = list(dict.fromkeys(r['model'] for r in rows))
    width = 0.8 / max(len(models), 1)
    fig_width = max(8, 1.1 * len(keys))
    fig, ax = plt.subplots(figsize=(fig_width, 5))
    for i, m in enumerate(models):
        xs, ys, errs = [], [], []
        for j, k in enumerate(keys):
            r = next((r for r in rows if r['model'] == m and
                      (r.get('compare_to') or r['key']) == k), None)
            if r is not None:
                xs.append(j + (i - (len(models) - 1) / 2) * width)
                ys.append(r['median_s'] * 1e3)
                errs.append(r['iqr_s'] * 1e3 / 2)
        ax.bar(xs, ys, width, yerr=errs, label=m, capsize=2)
    ax.set_yscale('log')
    ax.set_ylabel('median latency (ms, log scale)')
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(
        keys, rotation=30, ha='right', rotation_mode='anchor', fontsize=8)
    for j in range(1, len(keys)):
        ax.axvline(j - 0.5, color='grey', lw=0.5, alpha=0.3)
    ax.legend(fontsize=8)
    # about 14 characters of 9-point text an inch: the setting in full
    ax.set_title('\n'.join(textwrap.wrap(title, int(14 * fig_width))),
                 fontsize=9)
    ax.grid(axis='y', which='both', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_json(path: str, **content) -> None:
    """Write the run's settings and results."""
    with open(path, 'w') as f:
        json.dump(content, f, indent=1, default=str)
