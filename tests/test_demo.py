"""The main job (``make demo``) end to end, tiny: synthetic data, 3 steps."""
import json
import math
import sys

from conftest import REPO


def test_demo_job_trains_evaluates_and_writes_pictures(tmp_path):
    sys.path.insert(0, str(REPO / 'demo'))
    from train_eval_demo import main
    summary = main([
        '--work-dir', str(tmp_path), '--synthetic', '--iters', '3',
        '--size', '96', '128', '--minutes', '2', '--threads', '2'
    ])
    assert summary['source'] == 'synthetic'
    assert summary['iterations'] == 3
    for key in ('PQ', 'prompt mIoU (1 click)', 'VIS mAP'):
        assert math.isfinite(summary['metrics'][key])
    saved = json.loads((tmp_path / 'demo_results.json').read_text())
    assert saved['metrics'] == summary['metrics']
    for name in ('vis/panoptic_0.png', 'vis/prompts_0.png',
                 'vis/video_strip.png', 'loss_curves.png', 'iter_3.pth'):
        assert (tmp_path / name).stat().st_size > 0, name
