# VIPSeg val (VIPSeg_720P after the official change2_720p.py and
# create_panoptic_video_labels.py) at 1280x736, whole videos: VPQ over
# windows of 1, 2, 4, 6 and 8 frames (the VIPSeg evaluation) and STQ with
# rap_sam's VideoPanopticMetric. Labels put the 58 things first (see
# rap_sam.datasets.VIPSegDataset); `vipseg_classes` is that order, for
# the model's classifier. Data root: this one variable, or the
# VIPSEG_ROOT environment variable.
data_root = '{{$VIPSEG_ROOT:data/VIPSeg_720P/}}'
backend_args = None

# The 58 thing classes then the 66 stuff classes, each in category-id order
# (rap_sam.datasets.VIPSEG_THING_CLASSES + VIPSEG_STUFF_CLASSES).
vipseg_classes = [
    'door', 'ladder', 'window', 'goal', 'sculpture', 'flag',
    'parasol_or_umbrella', 'tent', 'roadblock', 'car', 'bus', 'truck',
    'bicycle', 'motorcycle', 'ship_or_boat', 'raft', 'airplane', 'person',
    'cat', 'dog', 'horse', 'cattle', 'other_animal', 'skateboard', 'ball',
    'box', 'traveling_case_or_trolley_case', 'basket', 'bag_or_package',
    'plate', 'tub_or_bowl_or_pot', 'bottle_or_cup', 'barrel', 'fishbowl',
    'bed', 'pillow', 'table_or_desk', 'chair_or_seat', 'bench', 'sofa', 'gun',
    'commode', 'roaster', 'refrigerator', 'washing_machine', 'Microwave_oven',
    'fan', 'painting_or_poster', 'mirror', 'flower_pot_or_vase', 'clock',
    'screen_or_television', 'computer', 'printer', 'Mobile_phone',
    'keyboard', 'instrument', 'train', 'wall', 'ceiling', 'stair',
    'escalator', 'Playground_slide', 'handrail_or_fence', 'rail', 'pillar',
    'pole', 'floor', 'ground', 'grass', 'sand', 'athletic_field', 'road',
    'path', 'crosswalk', 'building', 'house', 'bridge', 'tower', 'windmill',
    'well_or_well_lid', 'other_construction', 'sky', 'mountain', 'stone',
    'wood', 'ice', 'snowfield', 'grandstand', 'sea', 'river', 'lake',
    'waterfall', 'water', 'billboard_or_Bulletin_Board', 'pipeline',
    'cushion_or_carpet', 'wheeled_machine', 'tyre', 'traffic_light', 'lamp',
    'tree', 'flower', 'other_plant', 'toy', 'ball_net', 'backboard', 'bat',
    'cupboard_or_showcase_or_storage_rack', 'trash_can', 'cage', 'shelf',
    'bathtub', 'other_machine', 'curtain', 'textiles', 'clothes', 'book',
    'tool', 'blackboard', 'tissue', 'other_electronic_product', 'fruit',
    'food'
]
vipseg_num_things = 58

test_pipeline = [
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile', backend_args=backend_args),
            dict(type='Resize', scale=(1280, 736), keep_ratio=True),
            dict(
                type='LoadVideoPanopticAnnotations',
                backend_args=backend_args),
        ]),
    dict(type='PackTrackPanopticInputs')
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type='VIPSegDataset',
        data_root=data_root,
        ann_file='panoptic_gt_VIPSeg_val.json',
        data_prefix=dict(img_path='images', seg_map_path='panomasksRGB'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_evaluator = dict(
    type='VideoPanopticMetric', window_sizes=(1, 2, 4, 6, 8))
test_cfg = dict(type='TestLoop')
custom_hooks = [dict(type='BenchmarkTableHook', dataset_name='VIPSeg val')]
