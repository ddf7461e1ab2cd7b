"""Plot the training loss curves to a PNG file."""
import os.path as osp
from collections import defaultdict
from typing import Dict, List

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class LossCurveHook(Hook):
    """Record every loss of every iteration and plot them after training.

    Writes ``loss_curves.png`` (and ``loss_curves.json``) in the work dir:
    the total loss and each task's components, smoothed over ``window``
    iterations. A batch holds one task, so each loss has points only at the
    iterations of its task.

    Args:
        window (int): Moving-average window. Defaults to 10.
        filename (str): PNG name in the work dir.
    """

    priority = 'VERY_LOW'

    def __init__(self, window: int = 10,
                 filename: str = 'loss_curves.png') -> None:
        self.window = window
        self.filename = filename
        self.history: Dict[str, List[tuple]] = defaultdict(list)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        for key, value in (outputs or {}).items():
            if 'loss' in key and not key.startswith('d'):
                self.history[key].append((runner.iter + 1, float(value)))

    def after_train(self, runner) -> None:
        if not self.history:
            return
        import json

        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        path = osp.join(runner.work_dir, self.filename)
        with open(osp.splitext(path)[0] + '.json', 'w') as f:
            json.dump(self.history, f)
        fig, ax = plt.subplots(figsize=(8, 5))
        for key in sorted(self.history, key=lambda k: (k != 'loss', k)):
            iters, values = zip(*self.history[key])
            ax.plot(iters, self._smooth(values), label=key,
                    linewidth=2 if key == 'loss' else 1)
        ax.set_xlabel('iteration')
        ax.set_ylabel(f'loss (moving average of {self.window})')
        ax.set_yscale('log')
        ax.legend(fontsize=7, ncol=2)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        runner.logger.info(f'loss curves written to {path}')

    def _smooth(self, values) -> List[float]:
        out = []
        for i in range(len(values)):
            chunk = values[max(0, i - self.window + 1):i + 1]
            out.append(sum(chunk) / len(chunk))
        return out
