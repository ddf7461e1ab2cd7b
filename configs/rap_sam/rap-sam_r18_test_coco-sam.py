# RAP-SAM R18 on COCO-SAM (COCO panoptic val2017, 1024x1024 inputs):
# interactive segmentation from one click / one box per ground-truth
# segment (mIoU) and multi-click refinement (NoC@85, NoC@90, mIoU@k) by
# InteractiveTestLoop. Prompt queries only.
#   python tools/test.py THIS_CONFIG CHECKPOINT [--out-json FILE]
_base_ = [
    '../_base_/models/rap_sam_r18.py',
    '../_base_/datasets/coco_sam_test.py',
    '../_base_/default_runtime.py'
]

# Neither panoptic nor instance results: object queries do not run.
model = dict(test_cfg=dict(panoptic_on=False, instance_on=False))

default_hooks = dict(visualization=dict(type='PromptVisualizationHook'))
