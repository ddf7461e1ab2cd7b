"""The main job (``make demo``) end to end, tiny: synthetic data, 3 steps."""
import json
import math
import sys

from conftest import REPO


def test_demo_job_trains_evaluates_and_writes_pictures(tmp_path):
    sys.path.insert(0, str(REPO / 'demo'))
    from train_eval_demo import main
    summary = main([
        '--work-dir', str(tmp_path), '--synthetic', '--iters', '3',
        '--size', '96', '128', '--minutes', '2', '--threads', '2'
    ])
    assert summary['source'] == 'synthetic'
    assert summary['iterations'] == 3
    for key in ('PQ', 'prompt mIoU (1 click)', 'prompt mIoU (1 box)',
                'VIS mAP'):
        assert math.isfinite(summary['metrics'][key])
    saved = json.loads((tmp_path / 'demo_results.json').read_text())
    assert saved['metrics'] == summary['metrics']
    for name in ('vis/panoptic_0.png', 'vis/click_prompts_0.png',
                 'vis/box_prompts_0.png',
                 'vis/video_strip.png', 'loss_curves.png', 'iter_3.pth'):
        assert (tmp_path / name).stat().st_size > 0, name


def test_random_class_vectors_follow_the_synonym_texts(tmp_path):
    """Without a CLIP checkpoint each synonym text gets its own seeded
    vector, so a class keeps its vectors in every vocabulary: YouTube-VIS
    ``sedan`` ('car', 'sedan', 'automobile') is found in the merged
    ``car``, and classes that share no text share no vector."""
    import torch
    sys.path.insert(0, str(REPO / 'demo'))
    from train_eval_demo import build_embeddings
    from rap_sam.models.utils.class_embeddings import load_class_embeddings
    files = build_embeddings(str(tmp_path), 'x', None, True)
    merged, merged_names = load_class_embeddings(files['coco_ytvis2019'])
    ytvis, ytvis_names = load_class_embeddings(files['ytvis2019'])

    def vectors(embeds, names, name):
        return {tuple(v.tolist()) for v in embeds[names.index(name)]}

    sedan = vectors(ytvis, ytvis_names, 'sedan')
    assert len(sedan) == 3
    assert sedan <= vectors(merged, merged_names, 'car')
    assert vectors(ytvis, ytvis_names, 'dog') == vectors(
        merged, merged_names, 'dog')
    assert not sedan & vectors(merged, merged_names, 'dog')
    again = build_embeddings(str(tmp_path / 'again'), 'x', None, True)
    assert torch.equal(load_class_embeddings(again['ytvis2019'])[0], ytvis)
