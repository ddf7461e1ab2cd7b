"""The demo scores prompts against masks aligned with the resized image."""
import sys

import numpy as np
from PIL import Image

from conftest import REPO, shared_data
from mmdet.registry import DATASETS


def test_prompt_test_pipeline_resizes_the_masks_with_the_image():
    root = shared_data('coco_panoptic_sample')
    sys.path.insert(0, str(REPO / 'demo'))
    from train_eval_demo import test_pipelines
    _, prompt_pipe, _ = test_pipelines((192, 288))
    dataset = DATASETS.build(
        dict(type='CocoPanopticDataset', data_root=str(root),
             ann_file='panoptic_examples.json',
             data_prefix=dict(img='input_images/', seg='panoptic_examples/'),
             test_mode=True, pipeline=prompt_pipe))
    sample = dataset[0]['data_samples']
    masks = sample.gt_instances.masks.to_ndarray().astype(bool)
    h, w = sample.img_shape
    assert masks.shape[1:] == (h, w)
    # The masks are the panoptic PNG resized like the image: every segment
    # of the image (at least 16 pixels at this size), not a crop of them.
    png = np.asarray(Image.open(root / 'panoptic_examples' / (
        sample.img_path.split('/')[-1].rsplit('.', 1)[0] + '.png')))
    png = png.astype(np.int64)
    ids = png[..., 0] + 256 * png[..., 1] + 65536 * png[..., 2]
    small = np.asarray(Image.fromarray(ids.astype(np.int32)).resize(
        (w, h), Image.NEAREST))
    segments = [i for i in np.unique(small) if i and (small == i).sum() >= 16]
    assert abs(len(masks) - len(segments)) <= 2, (len(masks), len(segments))
    union = masks.any(0)
    assert (union == np.isin(small, segments)).mean() > 0.85
