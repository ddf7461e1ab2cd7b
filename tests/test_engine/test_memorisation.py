"""Each task's branch memorises one fixed real batch (a broken task cannot).

The check of ``tools/analysis_tools/memorise_batch.py``: a fresh R18 with
the demo's recipe, trained on two samples of a task; afterwards the masks
it predicts for that batch must be nearly right.
"""
import pytest

from conftest import load_script, shared_data

# task: (steps, lr); see the README for the measured curves.
BUDGETS = dict(video=(100, 2e-4), points=(300, 2e-4), boxes=(300, 2e-4))


@pytest.mark.parametrize('task', sorted(BUDGETS))
def test_task_memorises_a_fixed_batch(task, tmp_path):
    shared_data('coco_panoptic_sample')
    shared_data('davis2016')
    steps, lr = BUDGETS[task]
    tool = load_script('tools', 'analysis_tools', 'memorise_batch.py')
    result = tool.main([
        '--tasks', task, '--steps', str(steps), '--lr', str(lr),
        '--work-dir', str(tmp_path), '--demo-args', '--prompt-prior', '1'
    ])[task]
    before, after = result['before'], result['after']
    assert before['dice'] > 0.8 and before['iou'] < 0.2, before
    assert after['dice'] < 0.3, after
    assert after['iou'] > 0.75, after
