# RAP-SAM R50: the R18 joint config with a ResNet-50 backbone.
_base_ = './rap-sam_r18_8xb2-12e_coco-ytvis-sam.py'

backbone_checkpoint = 'torchvision://resnet50'

model = dict(
    backbone=dict(
        depth=50,
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint=backbone_checkpoint)),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
