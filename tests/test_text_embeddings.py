"""Tests of class vocabularies, class embedding files and their builder."""
import glob
import importlib.util
import json
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
import time

import pytest
import torch
import torch.nn.functional as F

from rap_sam.datasets.class_names import (COCO_PANOPTIC,
                                          COCO_PANOPTIC_NUM_THINGS,
                                          COCO_YTVIS2019_MAPPINGS,
                                          COCO_YTVIS2019_MERGED, VIPSEG,
                                          YTVIS2019, build_vocabulary,
                                          merge_vocabularies)
from rap_sam.models.utils.class_embeddings import (DEFAULT_CLIP_MODEL,
                                                   DEFAULT_CLIP_PRETRAINED,
                                                   build_command,
                                                   load_class_embeddings,
                                                   random_class_embeddings,
                                                   save_class_embeddings)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(REPO_ROOT, 'tools', 'build_text_embeddings.py')
COCO_PANOPTIC_CATEGORIES = osp.join(REPO_ROOT, '..', 'shared', 'data',
                                    'coco_panoptic_sample',
                                    'panoptic_coco_categories.json')
# The smallest open_clip model with the built-in tokenizer.
SMALL_MODEL = 'ViT-S-32-alt'
# Every class embedding file the configs name.
CONFIG_EMBEDDING_FILES = sorted({
    name
    for config in glob.glob(
        osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    for name in re.findall(r"'(data/embeddings/[^']+\.pth)'",
                           open(config, encoding='utf-8').read())
})


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
    assert f'--pretrained {DEFAULT_CLIP_PRETRAINED}' in str(error.value)
    assert '--checkpoint PATH' in str(error.value)


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
    ([], 'the weights are required: --pretrained TAG'),
    (['--checkpoint', 'absent.pt'], 'no such file'),
    (['--random-weights', '--model', 'ViT-B-16-SigLIP'],
     'Hugging Face tokenizer'),
    (['--pretrained', DEFAULT_CLIP_PRETRAINED, '--checkpoint', TOOL],
     'argument --checkpoint: not allowed with argument --pretrained'),
    (['--pretrained', DEFAULT_CLIP_PRETRAINED, '--random-weights'],
     'not allowed with argument --pretrained'),
    (['--pretrained', 'no_such_tag'],
     f"not a tag of open_clip model '{DEFAULT_CLIP_MODEL}'"),
])
def test_builder_refuses(tool, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        tool.main(['--vocab', 'coco_panoptic', '--out',
                   str(tmp_path / 'x.pth')] + args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / 'x.pth').exists()


def test_builder_end_to_end_random_weights(tool, tmp_path):
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


@pytest.mark.parametrize('path', CONFIG_EMBEDDING_FILES)
def test_missing_file_command_builds_that_file(tool, path):
    """The command the missing-file error prints makes the config's file."""
    message = build_command(path)
    words = shlex.split(message.split(' (', 1)[0])
    assert words[:2] == ['python', 'tools/build_text_embeddings.py']
    args = tool.parse_args(words[2:])
    assert args.out == path
    assert args.model == DEFAULT_CLIP_MODEL
    assert args.pretrained == DEFAULT_CLIP_PRETRAINED
    assert path.endswith(f'/{args.vocab}_{args.model}.pth')
    assert '--checkpoint PATH instead of --pretrained' in message


# --pretrained: open_clip's published weights.


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache: no weights are cached."""
    from huggingface_hub import constants
    cache = tmp_path / 'hf_hub_cache'
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(cache))
    return cache


def _check_offline_message(stderr, tag=DEFAULT_CLIP_PRETRAINED,
                           model=DEFAULT_CLIP_MODEL):
    assert (f"could not fetch open_clip's weights '{tag}' of model "
            f"'{model}'") in stderr
    assert 'Get the file by hand' in stderr
    assert '/resolve/main/open_clip_pytorch_model.bin' in stderr
    assert '--checkpoint /path/to/open_clip_pytorch_model.bin' in stderr
    assert 'Traceback' not in stderr


@pytest.mark.parametrize('host', ['10.255.255.1', 'huggingface.invalid'])
def test_pretrained_offline_fails_fast(tool, tmp_path, capsys, monkeypatch,
                                       empty_hub_cache, host):
    """An unroutable or unresolvable hub: the message, within seconds."""
    from huggingface_hub import constants
    # Where hf_hub_url, so huggingface_hub's downloads, point.
    monkeypatch.setattr(constants, 'HUGGINGFACE_CO_URL_TEMPLATE',
                        f'https://{host}/{{repo_id}}/resolve/{{revision}}/'
                        '{filename}')
    out = tmp_path / 'x.pth'
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        tool.main(['--vocab', 'coco_panoptic', '--pretrained',
                   DEFAULT_CLIP_PRETRAINED, '--out', str(out)])
    elapsed = time.perf_counter() - start
    assert exit_info.value.code == 1
    assert elapsed < tool.PROBE_TIMEOUT + 5
    stderr = capsys.readouterr().err
    _check_offline_message(stderr)
    assert host in stderr
    assert not out.exists()
    assert not constants.HF_HUB_OFFLINE  # restored


def test_pretrained_silent_server_times_out(tool, tmp_path, capsys,
                                            monkeypatch, empty_hub_cache):
    """A server that accepts connections and never answers: no hang."""
    import socket
    import threading
    from huggingface_hub import constants
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(8)
    held = []

    def accept():
        while True:
            try:
                held.append(server.accept())
            except OSError:  # closed
                return

    threading.Thread(target=accept, daemon=True).start()
    port = server.getsockname()[1]
    monkeypatch.setattr(constants, 'HUGGINGFACE_CO_URL_TEMPLATE',
                        f'http://127.0.0.1:{port}/{{repo_id}}/resolve/'
                        '{revision}/{filename}')
    monkeypatch.setattr(tool, 'PROBE_TIMEOUT', 1.0)
    start = time.perf_counter()
    try:
        with pytest.raises(SystemExit) as exit_info:
            tool.main(['--vocab', 'coco_panoptic', '--pretrained',
                       DEFAULT_CLIP_PRETRAINED, '--out',
                       str(tmp_path / 'x.pth')])
    finally:
        server.close()
        for connection, _ in held:
            connection.close()
    assert time.perf_counter() - start < 5
    assert exit_info.value.code == 1
    stderr = capsys.readouterr().err
    _check_offline_message(stderr)
    assert 'Timeout' in stderr


def test_pretrained_download_error_is_reported(tool, tmp_path, capsys,
                                               monkeypatch, empty_hub_cache):
    """A server that answers, then a download that fails as offline."""
    from huggingface_hub.errors import LocalEntryNotFoundError
    from open_clip import pretrained as oc_pretrained
    calls = []

    def hf_hub_download(repo_id, filename, **kwargs):
        calls.append(filename)
        raise LocalEntryNotFoundError(
            'An error happened while trying to locate the file on the Hub '
            'and we cannot find the requested files in the local cache.')

    monkeypatch.setattr(oc_pretrained, 'hf_hub_download', hf_hub_download)
    monkeypatch.setattr(tool, '_probe', lambda *args: None)
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        tool.main(['--vocab', 'coco_panoptic', '--pretrained',
                   DEFAULT_CLIP_PRETRAINED, '--out',
                   str(tmp_path / 'x.pth')])
    assert time.perf_counter() - start < 5
    assert exit_info.value.code == 1
    stderr = capsys.readouterr().err
    _check_offline_message(stderr)
    assert 'we cannot find the requested files in the local cache' in stderr
    # Offline (the cache), then online; .safetensors first, as open_clip.
    assert calls == ['open_clip_model.safetensors',
                     'open_clip_pytorch_model.bin'] * 2


def test_pretrained_offline_command_line(tmp_path):
    """The script itself: exit code 1, the message, no traceback."""
    env = dict(os.environ, HF_ENDPOINT='https://huggingface.invalid',
               HF_HUB_CACHE=str(tmp_path / 'hf_hub_cache'))
    out = tmp_path / 'x.pth'
    result = subprocess.run(
        [sys.executable, TOOL, '--vocab', 'coco_panoptic', '--pretrained',
         DEFAULT_CLIP_PRETRAINED, '--out', str(out)],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=60)
    assert result.returncode == 1
    _check_offline_message(result.stderr)
    assert '--vocab coco_panoptic --model convnext_large_d_320 ' in (
        result.stderr)
    assert not out.exists()


def test_pretrained_from_hub_cache_needs_no_network(tool, monkeypatch,
                                                    empty_hub_cache):
    """A cached copy is found by huggingface_hub itself, offline."""
    repo = (empty_hub_cache /
            'models--laion--CLIP-convnext_large_d_320.laion2B-s29B-b131K-'
            'ft-soup')
    commit = 'a' * 40
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text(commit)
    weights = repo / 'snapshots' / commit / 'open_clip_pytorch_model.bin'
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b'weights')

    def no_probe(*args):
        raise AssertionError('the network was probed')

    monkeypatch.setattr(tool, '_probe', no_probe)
    path = tool.fetch_pretrained(DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED)
    assert osp.samefile(path, weights)


# A small open_clip model, its checkpoint and what it embeds.


@pytest.fixture(scope='module')
def small_checkpoint(tmp_path_factory):
    """A random ``SMALL_MODEL`` (seed unlike the tool's) and its file."""
    import open_clip
    torch.manual_seed(1234)
    model = open_clip.create_model(
        SMALL_MODEL, pretrained_image=False, pretrained_text=False).eval()
    path = tmp_path_factory.mktemp('small_model') / 'open_clip_model.pt'
    torch.save(model.state_dict(), path)
    return model, str(path)


@torch.no_grad()
def _expected_embeddings(tool, model, texts):
    """Per text: normalised features, averaged over the tool's templates."""
    import open_clip
    tokenizer = open_clip.get_tokenizer(SMALL_MODEL)
    rows = []
    for text in texts:
        tokens = tokenizer(
            [template.format(text) for template in tool.DEFAULT_TEMPLATES])
        features = F.normalize(model.encode_text(tokens).float(), dim=-1)
        rows.append(F.normalize(features.mean(dim=0), dim=-1))
    return torch.stack(rows)


def test_builder_checkpoint_matches_open_clip(tool, tmp_path,
                                              small_checkpoint):
    model, checkpoint = small_checkpoint
    class_file = tmp_path / 'classes.txt'
    class_file.write_text('cat\ndog\ntraffic light\n')
    out = tmp_path / 'emb.pth'
    start = time.perf_counter()
    tool.main([
        '--class-names', str(class_file), '--model', SMALL_MODEL,
        '--checkpoint', checkpoint, '--out', str(out), '--batch-size', '5'
    ])
    assert time.perf_counter() - start < 30

    content = torch.load(out, weights_only=True)
    assert content['pretrained'] == osp.abspath(checkpoint)
    assert content['templates'] == list(tool.DEFAULT_TEMPLATES)
    embeddings, names = load_class_embeddings(str(out))
    assert names == ['cat', 'dog', 'traffic light']
    assert embeddings.shape[:2] == (3, 1)
    embeddings = embeddings[:, 0]
    dim = model.text_projection.shape[1]
    assert embeddings.shape == (3, dim)
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(3))
    expected = _expected_embeddings(tool, model,
                                    ['cat', 'dog', 'traffic light'])
    torch.testing.assert_close(embeddings, expected, atol=1e-5, rtol=0)


def test_builder_pretrained_tag_from_cache(tool, tmp_path, monkeypatch,
                                           empty_hub_cache,
                                           small_checkpoint):
    """--pretrained end to end, the weights in the Hugging Face cache."""
    from open_clip import pretrained as oc_pretrained
    model, checkpoint = small_checkpoint
    monkeypatch.setitem(
        oc_pretrained._PRETRAINED, SMALL_MODEL,
        dict(rapsam_test=oc_pretrained._pcfg(hf_hub='rap-sam/tiny-test/')))
    commit = 'b' * 40
    repo = empty_hub_cache / 'models--rap-sam--tiny-test'
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text(commit)
    weights = repo / 'snapshots' / commit / 'open_clip_pytorch_model.bin'
    weights.parent.mkdir(parents=True)
    weights.write_bytes(open(checkpoint, 'rb').read())

    def no_probe(*args):
        raise AssertionError('the network was probed')

    monkeypatch.setattr(tool, '_probe', no_probe)
    class_file = tmp_path / 'classes.txt'
    class_file.write_text('cat\ndog\ntraffic light\n')
    out = tmp_path / 'emb.pth'
    tool.main([
        '--class-names', str(class_file), '--model', SMALL_MODEL,
        '--pretrained', 'rapsam_test', '--out', str(out)
    ])
    assert torch.load(out, weights_only=True)['pretrained'] == 'rapsam_test'
    embeddings, _ = load_class_embeddings(str(out))
    expected = _expected_embeddings(tool, model,
                                    ['cat', 'dog', 'traffic light'])
    torch.testing.assert_close(embeddings[:, 0], expected, atol=1e-5, rtol=0)
