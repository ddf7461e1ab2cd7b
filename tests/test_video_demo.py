"""demo/video_demo.py on real clips: MP4, GIF and strip, stable ids."""
import importlib.util
import time

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import REPO, shared_data

R18 = str(REPO / 'configs' / 'rap_sam' /
          'rap-sam_r18_8xb2-12e_coco-panoptic.py')


@pytest.fixture(scope='module')
def video_demo():
    spec = importlib.util.spec_from_file_location(
        'video_demo', REPO / 'demo' / 'video_demo.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_davis_frames_to_mp4_and_gif_with_stable_ids(video_demo, tmp_path):
    folder = shared_data('davis2016', 'JPEGImages', '480p', 'dog')
    start = time.perf_counter()
    summary = video_demo.main([
        str(folder), R18, '--random-weights', '--scale', '160,90',
        '--max-frames', '5', '--prompt', '0:420,230', '--out',
        str(tmp_path)
    ])
    assert time.perf_counter() - start < 60
    assert summary['frames'] == 5
    prompted = summary['prompted']['--prompt 0:420,230']
    assert all(prompted in ids for ids in summary['ids'])
    # Ids are never reused within a frame.
    assert all(len(set(ids)) == len(ids) for ids in summary['ids'])

    mp4 = np.stack(list(iio.imiter(summary['mp4'], plugin='FFMPEG')))
    assert mp4.shape == (5, 480, 854, 3)
    gif = iio.imread(summary['gif'], index=None)
    assert gif.shape[:3] == (5, 270, 480)
    strip = iio.imread(summary['strip'])
    assert strip.shape[0] == 270 and strip.shape[1] > 4 * 480
    # the GIF's palette frames are the strip's lossless ones within the
    # quantization (strip tiles: frames 0, 1, 3 and 4 of 5)
    error = np.abs(gif[0][..., :3].astype(int) - strip[:, :480, :3])
    assert error.mean() < 6
    # The frames are drawn over: not the input frames.
    first = iio.imread(str(sorted(folder.glob('*.jpg'))[0]))
    assert np.abs(mp4[0].astype(int) - first).mean() > 5


def test_init_masks_prompt_objects_when_they_appear(video_demo, tmp_path):
    images = shared_data('cutie_examples', 'images', 'judo')
    masks = shared_data('cutie_examples', 'masks', 'judo')
    # Object 2 enters on frame 5, whose mask is 853 px wide (frames: 854).
    with pytest.warns(UserWarning, match='853x480'):
        summary = video_demo.main([
            str(images), R18, '--random-weights', '--scale', '128,72',
            '--max-frames', '6', '--init-masks',
            str(masks), '--score-thr', '1', '--strip', '0', '--out',
            str(tmp_path)
        ])
    assert summary['prompted'] == {
        'object 1 of 00000.png': 1,
        'object 2 of 00005.png': 2
    }
    assert summary['ids'] == [[1]] * 5 + [[1, 2]]
    assert summary['strip'] is None


def test_video_file_input(video_demo, tmp_path):
    folder = shared_data('davis2016', 'JPEGImages', '480p', 'cows')
    frames = [iio.imread(str(p)) for p in sorted(folder.glob('*.jpg'))[:3]]
    video = tmp_path / 'cows.mp4'
    iio.imwrite(str(video), np.stack(frames), plugin='FFMPEG', fps=24)
    summary = video_demo.main([
        str(video), R18, '--random-weights', '--scale', '128,72',
        '--max-frames', '2', '--box', '1:300,100,600,400', '--out',
        str(tmp_path / 'out')
    ])
    assert summary['frames'] == 2
    assert summary['prompted']['--box 1:300,100,600,400'] in \
        summary['ids'][1]
    assert len(list(iio.imiter(summary['mp4'], plugin='FFMPEG'))) == 2


def test_corrupt_frame_keeps_the_last_good_outputs(video_demo, tmp_path):
    import shutil
    folder = shared_data('davis2016', 'JPEGImages', '480p', 'dog')
    clip = tmp_path / 'clip'
    clip.mkdir()
    for path in sorted(folder.glob('*.jpg'))[:3]:
        shutil.copy(path, clip / path.name)
    args = [str(clip), R18, '--random-weights', '--scale', '160,90',
            '--out', str(tmp_path / 'out')]
    good = video_demo.main(args)
    before = {k: open(good[k], 'rb').read() for k in ('mp4', 'gif')}
    (clip / '99999.jpg').write_bytes(b'not a jpeg')
    with pytest.raises(ValueError, match='99999.jpg'):
        video_demo.main(args)
    for key, content in before.items():
        assert open(good[key], 'rb').read() == content, key
    assert not list((tmp_path / 'out').glob('*.partial.*'))


def test_int8_calibrates_on_the_first_frame(video_demo, tmp_path):
    from rap_sam.inference import Int8Backbone, resolve_precision
    if resolve_precision('int8') != 'int8':
        pytest.skip('int8 cannot run here (onnxruntime or VNNI missing)')
    folder = shared_data('davis2016', 'JPEGImages', '480p', 'dog')
    built = {}
    original = video_demo.VideoPredictor

    def keep(*args, **kwargs):
        built['predictor'] = original(*args, **kwargs)
        return built['predictor']

    video_demo.VideoPredictor = keep
    try:
        summary = video_demo.main([
            str(folder), R18, '--random-weights', '--scale', '160,90',
            '--max-frames', '3', '--prompt', '0:420,230', '--out',
            str(tmp_path), '--precision', 'int8'
        ])
    finally:
        video_demo.VideoPredictor = original
    assert summary['frames'] == 3  # the peeked first frame is not lost
    assert isinstance(built['predictor'].model.backbone, Int8Backbone)


def test_unknown_x264_preset_is_an_argument_error(video_demo, capsys):
    with pytest.raises(SystemExit):
        video_demo.parse_args(['clip.mp4', R18, '--x264-preset', 'quick'])
    assert "invalid choice: 'quick'" in capsys.readouterr().err
