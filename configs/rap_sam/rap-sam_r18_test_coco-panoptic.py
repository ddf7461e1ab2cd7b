# RAP-SAM R18 on COCO panoptic val2017 at 1333x800: PQ (CocoPanopticMetric)
# and the thing masks' mask mAP (CocoMetric segm). Any RAP-SAM checkpoint
# of this backbone (the classifier embeddings are not in checkpoints).
#   python tools/test.py THIS_CONFIG CHECKPOINT [--out-json FILE]
_base_ = [
    '../_base_/models/rap_sam_r18.py',
    '../_base_/datasets/coco_panoptic_test.py',
    '../_base_/default_runtime.py'
]
