_base_ = 'mmdet::_base_/default_runtime.py'

# `rap_sam` registers the model; mmseg.models registers STDCNet (mmseg scope).
custom_imports = dict(
    imports=['rap_sam', 'mmseg.models'], allow_failed_imports=False)

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    # glibc keeps freed tensor memory: fewer page faults on CPU.
    malloc=dict(type='KeepFreedMemoryHook'),
    # CPU convolutions (oneDNN) in NHWC, without reorders at each conv.
    memory_format=dict(type='ChannelsLastHook'))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
