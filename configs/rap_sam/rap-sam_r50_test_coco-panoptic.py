# RAP-SAM R50: rap-sam_r18_test_coco-panoptic.py with a ResNet-50 backbone.
_base_ = './rap-sam_r18_test_coco-panoptic.py'

model = dict(
    backbone=dict(depth=50),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
