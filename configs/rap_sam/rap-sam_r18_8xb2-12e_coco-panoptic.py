_base_ = [
    '../_base_/models/rap_sam_r18.py',
    '../_base_/datasets/coco_panoptic_lsj.py',
    '../_base_/schedules/schedule_12e.py', '../_base_/default_runtime.py'
]

model = dict(
    data_preprocessor=dict(batch_augments={{_base_.batch_augments}}))
