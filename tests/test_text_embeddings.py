"""Tests of class vocabularies, class embedding files and their builder."""
import importlib.util
import json
import os.path as osp
import time

import pytest
import torch

from rap_sam.datasets.class_names import (COCO_PANOPTIC,
                                          COCO_PANOPTIC_NUM_THINGS,
                                          COCO_YTVIS2019_MAPPINGS,
                                          COCO_YTVIS2019_MERGED, VIPSEG,
                                          YTVIS2019, build_vocabulary,
                                          merge_vocabularies)
from rap_sam.models.utils.class_embeddings import (load_class_embeddings,
                                                   random_class_embeddings,
                                                   save_class_embeddings)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(REPO_ROOT, 'tools', 'build_text_embeddings.py')
COCO_PANOPTIC_CATEGORIES = osp.join(REPO_ROOT, '..', 'shared', 'data',
                                    'coco_panoptic_sample',
                                    'panoptic_coco_categories.json')
# The smallest open_clip model with the built-in tokenizer.
SMALL_MODEL = 'ViT-S-32-alt'


def _save(path, names=('cat', 'dog', 'sky'), num_synonyms=2, dim=8):
    embeddings = random_class_embeddings(len(names), num_synonyms, dim)
    save_class_embeddings(
        str(path), embeddings, names, model='test', pretrained='random',
        templates=['a photo of a {}.'])
    return embeddings


# Vocabularies.


def test_vocabulary_sizes():
    assert len(COCO_PANOPTIC) == 133
    assert len(YTVIS2019) == 40
    assert len(VIPSEG) == 124
    assert len(COCO_YTVIS2019_MERGED) == 154
    for vocab in (COCO_PANOPTIC, YTVIS2019, VIPSEG, COCO_YTVIS2019_MERGED):
        assert len(vocab.synonyms) == len(vocab.classes)
        assert all(vocab.synonyms)


@pytest.mark.skipif(
    not osp.isfile(COCO_PANOPTIC_CATEGORIES),
    reason='shared COCO panoptic sample not available')
def test_coco_panoptic_matches_annotations():
    with open(COCO_PANOPTIC_CATEGORIES) as f:
        categories = json.load(f)
    assert [c['name'] for c in categories] == list(COCO_PANOPTIC.classes)
    assert sum(c['isthing'] for c in categories) == COCO_PANOPTIC_NUM_THINGS


def test_merged_coco_ytvis2019():
    coco_map, ytvis_map = COCO_YTVIS2019_MAPPINGS
    merged = COCO_YTVIS2019_MERGED.classes
    assert coco_map == list(range(133))
    assert len(ytvis_map) == 40

    def merged_name(ytvis_class):
        return merged[ytvis_map[YTVIS2019.classes.index(ytvis_class)]]

    assert merged_name('person') == 'person'
    assert merged_name('motorbike') == 'motorcycle'
    assert merged_name('sedan') == 'car'
    assert merged_name('truck') == 'truck'
    assert merged_name('airplane') == 'airplane'
    assert merged_name('tennis_racket') == 'tennis racket'
    assert merged_name('giant_panda') == 'giant_panda'
    # The animal is not COCO's computer mouse.
    assert merged_name('mouse') == 'mouse (ytvis2019)'
    assert len(set(merged)) == len(merged)
    person = COCO_YTVIS2019_MERGED.synonyms[0]
    assert person[0] == 'person' and 'rider' in person
    assert 'sedan' in COCO_YTVIS2019_MERGED.synonyms[merged.index('car')]


def test_merge_vocabularies_rules():
    a = build_vocabulary('a', [('Wall', ['wall']), ('cat', [])])
    b = build_vocabulary('b', [('kitty', ['Cat', 'kitty']), ('sky', [])])
    merged, (map_a, map_b) = merge_vocabularies(a, b, name='ab')
    assert merged.classes == ('Wall', 'cat', 'sky')
    assert merged.synonyms[1] == ('cat', 'Cat', 'kitty')
    assert (map_a, map_b) == ([0, 1], [1, 2])
    with pytest.raises(ValueError, match='duplicate canonical text'):
        build_vocabulary('bad', [('a_b', []), ('a b', [])])
    with pytest.raises(ValueError, match='at least one'):
        merge_vocabularies()


# Class embedding files.


def test_round_trip_and_reorder(tmp_path):
    path = tmp_path / 'emb.pth'
    embeddings = _save(path)
    loaded, names = load_class_embeddings(str(path))
    assert names == ['cat', 'dog', 'sky']
    assert loaded.dtype == torch.float32 and loaded.shape == (3, 2, 8)
    torch.testing.assert_close(loaded, embeddings)

    subset, names = load_class_embeddings(str(path), ['sky', 'cat'])
    assert names == ['sky', 'cat']
    torch.testing.assert_close(subset, embeddings[[2, 0]])


def test_raw_tensor_is_normalised(tmp_path):
    path = tmp_path / 'raw.pth'
    torch.save(3 * random_class_embeddings(2, 1, 4, seed=1), path)
    loaded, names = load_class_embeddings(str(path), ['a', 'b'])
    assert names == ['a', 'b']
    torch.testing.assert_close(loaded.norm(dim=-1), torch.ones(2, 1))
    with pytest.raises(ValueError, match='3 class_names'):
        load_class_embeddings(str(path), ['a', 'b', 'c'])
    with pytest.raises(ValueError, match='pass class_names'):
        load_class_embeddings(str(path))


def test_missing_file_names_builder(tmp_path):
    path = str(tmp_path / 'absent.pth')
    with pytest.raises(FileNotFoundError) as error:
        load_class_embeddings(path)
    assert path in str(error.value)
    assert 'build_text_embeddings.py' in str(error.value)


def test_missing_classes_are_listed(tmp_path):
    path = tmp_path / 'emb.pth'
    _save(path)
    with pytest.raises(ValueError, match=r"\['bird', 'tree'\]"):
        load_class_embeddings(str(path), ['cat', 'bird', 'tree'])


@pytest.mark.parametrize('content, error, message', [
    (['not', 'a', 'dict'], TypeError, 'got list'),
    ({'class_names': ['a']}, KeyError, 'embeddings'),
    ({'class_names': ['a'], 'embeddings': torch.ones(1, 4)}, ValueError,
     'must have 3 dims'),
    ({'class_names': ['a'], 'embeddings': torch.full((1, 1, 4), float('nan'))
      }, ValueError, 'NaN'),
    ({'class_names': ['a', 'b'], 'embeddings': torch.ones(1, 1, 4)},
     ValueError, '2 names but field embeddings has 1 rows'),
    ({'class_names': ['a', 'a'], 'embeddings': torch.ones(2, 1, 4)},
     ValueError, 'duplicate class names'),
    ({'class_names': 'ab', 'embeddings': torch.ones(2, 1, 4)}, TypeError,
     'class_names must be a list'),
])
def test_invalid_files(tmp_path, content, error, message):
    path = str(tmp_path / 'bad.pth')
    torch.save(content, path)
    with pytest.raises(error, match=message) as info:
        load_class_embeddings(path)
    assert path in str(info.value)


def test_unreadable_file(tmp_path):
    path = tmp_path / 'text.pth'
    path.write_text('not a torch file')
    with pytest.raises(ValueError, match='cannot read'):
        load_class_embeddings(str(path))


# The builder.


@pytest.fixture(scope='module')
def tool():
    """The builder's module, run in this process to import torch once."""
    spec = importlib.util.spec_from_file_location('build_text_embeddings',
                                                  TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('args, message', [
    ([], '--checkpoint PATH is required'),
    (['--checkpoint', 'absent.pt'], 'no such file'),
    (['--random-weights', '--model', 'ViT-B-16-SigLIP'],
     'Hugging Face tokenizer'),
])
def test_builder_refuses(tool, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        tool.main(['--vocab', 'coco_panoptic', '--out',
                   str(tmp_path / 'x.pth')] + args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / 'x.pth').exists()


def test_builder_end_to_end_random_weights(tool, tmp_path, monkeypatch):
    # main() forces the hub offline; keep that out of the other tests.
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv('TRANSFORMERS_OFFLINE', '1')
    class_file = tmp_path / 'classes.txt'
    class_file.write_text('# toy vocabulary\ncat, kitten\ndog\n'
                          'giant_panda, panda, bear cat\n')
    out = tmp_path / 'emb.pth'
    start = time.perf_counter()
    tool.main([
        '--class-names', str(class_file), '--model', SMALL_MODEL,
        '--random-weights', '--out', str(out), '--batch-size', '8'
    ])
    assert time.perf_counter() - start < 30

    content = torch.load(out, weights_only=True)
    assert content['model'] == SMALL_MODEL
    assert content['pretrained'] == 'random'
    assert content['templates']
    embeddings, names = load_class_embeddings(str(out))
    assert names == ['cat', 'dog', 'giant_panda']
    assert embeddings.shape[:2] == (3, 3)
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(3, 3))
    # 'dog' has one synonym, repeated to fill the synonym axis.
    torch.testing.assert_close(embeddings[1, 0], embeddings[1, 2])
    assert not list(tmp_path.glob('.*.tmp'))
