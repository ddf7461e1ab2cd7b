# The paper's recipe: AdamW 1e-4, weight decay 0.05, backbone lr x0.1,
# no decay on norms and embeddings, 12 epochs with steps at 8 and 11.
# fused=True: torch's one-kernel-per-tensor AdamW (CPU and CUDA), half the
# optimiser time of the per-op loop on CPU (mmengine makes a parameter group
# per tensor, 293 for R18); same update up to float rounding.
max_epochs = 12
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, weight_decay=0.05, eps=1e-8,
        betas=(0.9, 0.999), fused=True),
    clip_grad=dict(max_norm=0.01, norm_type=2),
    paramwise_cfg=dict(
        custom_keys=dict(
            backbone=dict(lr_mult=0.1, decay_mult=1.0),
            object_queries=dict(lr_mult=1.0, decay_mult=0.0),
            prompt_encoder=dict(lr_mult=1.0, decay_mult=0.0)),
        norm_decay_mult=0.0,
        bypass_duplicate=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# Linear lr scaling from a total batch of 16 (8 GPUs x 2).
auto_scale_lr = dict(enable=False, base_batch_size=16)
