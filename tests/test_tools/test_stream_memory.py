"""Streaming video inference keeps a constant state and flat memory.

``VideoPredictor`` on 30 real frames (DAVIS cows, at a quarter of their
size, an object prompted by its box on the first frame): the predictor's
arrays keep their size from the first frame on, its id table is bounded
by the number of queries, and the process's RSS does not grow.
"""
import numpy as np
import torch
from PIL import Image

from conftest import load_config, load_script, shared_data
from mmdet.registry import MODELS
from rap_sam.inference import VideoPredictor

NUM_FRAMES = 30


def load_tool():
    return load_script('tools', 'analysis_tools', 'stream_memory.py')


def array_bytes(tool, predictor):
    """Bytes of the predictor's arrays: the track state (slot embeddings,
    class probabilities) and the prompted objects' state (not the slot ->
    id table)."""
    return tool.nbytes(predictor.state) + tool.nbytes(predictor.prompted)


def test_streaming_state_and_rss_stay_flat():
    tool = load_tool()
    root = shared_data('davis2016')
    frames = tool.list_frames(str(root / 'JPEGImages' / '480p' / 'cows'),
                              NUM_FRAMES)
    first = frames[0].rsplit('/', 1)[1].replace('.jpg', '.png')
    box = np.array(tool.mask_box(
        str(root / 'Annotations' / '480p' / 'cows' / first))) / 4
    torch.manual_seed(0)
    model = MODELS.build(
        load_config('rap-sam_r18_8xb2-12e_coco-panoptic.py').model).eval()
    predictor = VideoPredictor(model, scale=(128, 72))
    arrays, tables, rss = [], [], []
    for t, path in enumerate(frames, 1):
        image = Image.open(path).convert('RGB').resize((214, 120))
        out = predictor.step(np.array(image),
                             boxes=[box.tolist()] if t == 1 else None)
        assert out['masks'].shape[1:] == (120, 214)
        assert -1 in out['labels']  # the prompted object is followed
        arrays.append(array_bytes(tool, predictor))
        tables.append(len(predictor.slot_ids))
        if t % 10 == 0:
            rss.append(tool.rss_mb())
    print('RSS (MiB) at frames 10, 20, 30:', [round(r, 1) for r in rss])
    print('state bytes:', tool.state_nbytes(predictor))
    assert len(set(arrays)) == 1 and arrays[0] > 0
    assert max(tables) <= model.panoptic_head.num_queries
    assert tool.state_nbytes(predictor)['total'] < 200_000
    # No growth after the first 10 frames (allocator noise aside).
    assert rss[-1] - rss[0] < 64, rss
