_base_ = './rap_sam_r50.py'

model = dict(
    backbone=dict(_delete_=True, type='SeaFormer', arch='large',
                  init_cfg=None),
    neck=dict(
        in_channels=[64, 128, 192, 256]))
