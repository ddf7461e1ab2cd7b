_base_ = './rap_sam_r50.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='STDCPyramid',
        stdc_type='STDCNet1',
        in_channels=3,
        channels=(32, 64, 256, 512, 1024),
        bottleneck_type='cat',
        num_convs=4,
        norm_cfg=dict(type='BN', requires_grad=True),
        act_cfg=dict(type='ReLU'),
        with_final_conv=False,
        init_cfg=None),
    neck=dict(
        in_channels=[64, 256, 512, 1024]))
