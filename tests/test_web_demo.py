"""The web demo: its API through FastAPI's TestClient, and the page end to
end in headless Chromium driven by Playwright."""
import base64
import importlib.util
import io
import json
import os
import shutil
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import cv2
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from conftest import REPO, shared_data
from rap_sam.inference import RapSAMPredictor, build_model

sys.path.insert(0, str(REPO / 'demo'))
from web_server import (ApiError, create_app, decode_image,  # noqa: E402
                        is_loopback)

CONFIG = REPO / 'configs' / 'rap_sam' / 'rap-sam_r18_8xb2-12e_coco-panoptic.py'
MAX_UPLOAD = 1024 * 1024
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'
]
COUNT_ALPHA_JS = """(id) => {
  const c = document.getElementById(id);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}"""


@pytest.fixture(scope='module')
def predictor() -> RapSAMPredictor:
    torch.manual_seed(0)
    # Panoptic only: the page never shows instance results. The page checks
    # need non-empty masks; with these random weights (seed 0) the
    # dot-product start of prompts gives them, the prompt prior does not.
    model = build_model(
        str(CONFIG), None, 'cpu', random_weights=True,
        cfg_options={
            'model.test_cfg.instance_on': False,
            'model.panoptic_head.prompt_prior': False
        })
    return RapSAMPredictor(model, scale=(512, 512))


@pytest.fixture(scope='module')
def client(predictor: RapSAMPredictor) -> Iterator[TestClient]:
    # TestClient's requests name the host 'testserver'.
    app = create_app(predictor, max_upload_bytes=MAX_UPLOAD, max_images=16,
                     allowed_hosts=['testserver'])
    with TestClient(app) as c:
        yield c


def png_bytes(height: int = 96, width: int = 128) -> bytes:
    image = np.full((height, width, 3), 40, np.uint8)
    cv2.rectangle(image, (30, 20), (90, 70), (220, 180, 30), -1)
    return cv2.imencode('.png', image)[1].tobytes()


def upload(client: TestClient, data: bytes, name: str = 'image.png'):
    return client.post('/api/image',
                       files={'file': (name, data, 'image/png')})


@pytest.fixture(scope='module')
def image_id(client: TestClient) -> str:
    response = upload(client, png_bytes())
    assert response.status_code == 200, response.text
    return response.json()['image_id']


def decode_labels(b64: str) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(b64), np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)


def test_page_and_static_files_are_served(client: TestClient) -> None:
    page = client.get('/')
    assert page.status_code == 200
    assert page.headers['content-type'].startswith('text/html')
    assert 'id="prompt-layer"' in page.text
    assert page.headers['x-content-type-options'] == 'nosniff'
    for name in ('app.js', 'style.css'):
        assert client.get(f'/static/{name}').status_code == 200
    info = client.get('/api/info').json()
    assert info['max_upload_bytes'] == MAX_UPLOAD and info['default'] is None


def test_upload_then_point_prompt(client: TestClient, image_id: str) -> None:
    shown = client.get(f'/api/image/{image_id}')
    assert shown.headers['content-type'] == 'image/jpeg'
    assert cv2.imdecode(np.frombuffer(shown.content, np.uint8),
                        cv2.IMREAD_COLOR).shape == (96, 128, 3)
    response = client.post(
        '/api/prompt',
        json=dict(image_id=image_id, points=[[60, 45], [5, 5]],
                  labels=[1, 0]))
    assert response.status_code == 200, response.text
    body = response.json()
    labels = decode_labels(body['mask_png'])
    assert labels.shape == (96, 128) and labels.dtype == np.uint8
    assert len(body['iou']) == 1 and 0 <= body['iou'][0] <= 1
    assert labels.max() <= 1 and (labels == 1).sum() == body['area'][0]
    assert body['latency_ms'] > 0 and body['total_ms'] >= body['latency_ms']


@pytest.mark.parametrize('prompt,num_masks', [
    (dict(boxes=[[10, 10, 60, 50], [30, 20, 90, 70]]), 2),
    (dict(points=[[60, 45]], boxes=[[30, 20, 90, 70]]), 1),
])
def test_box_prompts(client: TestClient, image_id: str, prompt: dict,
                     num_masks: int) -> None:
    response = client.post('/api/prompt', json=dict(image_id=image_id,
                                                    **prompt))
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body['iou']) == len(body['area']) == num_masks
    labels = decode_labels(body['mask_png'])
    assert labels.shape == (96, 128) and labels.max() <= num_masks


def test_features_are_computed_once_per_image(
        client: TestClient, predictor: RapSAMPredictor, image_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: List[Tuple[int, int]] = []
    original = predictor.set_image

    def spy(image: np.ndarray) -> None:
        calls.append(image.shape[:2])
        original(image)

    monkeypatch.setattr(predictor, 'set_image', spy)
    # The type comes from the content, not from the name.
    response = upload(client, png_bytes(64, 80), 'photo.jpg')
    assert response.status_code == 200, response.text
    assert (response.json()['width'], response.json()['height']) == (80, 64)
    assert calls == [(64, 80)]
    for target in (response.json()['image_id'], image_id, image_id):
        response = client.post(
            '/api/prompt', json=dict(image_id=target, points=[[20, 20]]))
        assert response.status_code == 200, response.text
    assert calls == [(64, 80), (96, 128)]


@pytest.mark.parametrize('data,name,status,message', [
    (b'just some text, not pixels\n', 'notes.png', 415, 'PNG, JPEG or WebP'),
    (b'GIF89a' + bytes(64), 'anim.gif', 415, 'PNG, JPEG or WebP'),
    (b'\x89PNG\r\n\x1a\n' + bytes(64), 'broken.png', 400, 'could not decode'),
    (b'', 'empty.png', 400, 'empty'),
    (b'\x89PNG\r\n\x1a\n' + bytes(MAX_UPLOAD), 'big.png', 413, 'over'),
    (bytes(2 * MAX_UPLOAD), 'huge.png', 413, 'over'),
])
def test_upload_validation(client: TestClient, data: bytes, name: str,
                           status: int, message: str) -> None:
    response = upload(client, data, name)
    assert response.status_code == status
    assert message in response.json()['error']


def test_upload_needs_a_file_field(client: TestClient) -> None:
    response = client.post('/api/image', data={'other': 'x'})
    assert response.status_code == 400
    assert 'file' in response.json()['error']


def test_a_streamed_upload_over_the_limit_is_cut_off(
        client: TestClient) -> None:

    def chunks() -> Iterator[bytes]:
        for _ in range(2 * MAX_UPLOAD // 65536 + 2):
            yield bytes(65536)

    response = client.post(
        '/api/image', content=chunks(),
        headers={'content-type': 'multipart/form-data; boundary=x'})
    assert response.status_code == 413
    assert 'over' in response.json()['error']


def test_decode_image_types_and_orientation() -> None:
    from PIL import Image
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:, :10] = 255
    webp = cv2.imencode('.webp', rgb)[1].tobytes()
    assert decode_image(webp, 10_000).shape == (20, 40, 3)
    # EXIF orientation 6 (rotate 90 degrees), applied as browsers do.
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(buf, 'JPEG', exif=exif)
    rotated = decode_image(buf.getvalue(), 10_000)
    assert rotated.shape == (40, 20, 3)
    with pytest.raises(ApiError, match='at most 100 pixels'):
        decode_image(webp, 100)


@pytest.mark.parametrize('change,status,message', [
    (dict(points=[[200, 5]]), 400, 'outside the image'),
    (dict(points=[[1, 2, 3]]), 400, 'points'),
    (dict(points=[[5, 5]], labels=[1, 0]), 400, '2 labels for 1 points'),
    (dict(points=[[5, 5]], labels=[2]), 400, 'labels'),
    (dict(points=[]), 400, 'at least one point or one box'),
    (dict(boxes=[[50, 10, 20, 40]]), 400, 'x1 < x2'),
    (dict(boxes=[[0, 0, 10]]), 400, 'boxes'),
    (dict(points=[[5, 5]], boxes=[[0, 0, 9, 9], [1, 1, 8, 8]]), 400,
     'at most one box'),
    (dict(points=[[5, 5]] * 65), 400, 'points'),
    (dict(points=[[float('nan'), 5]]), 400, 'points'),
    (dict(image_id='../../etc'), 400, 'image_id'),
    (dict(image_id='0' * 32), 404, 'unknown image_id'),
    (dict(colour='red'), 400, 'colour'),
])
def test_prompt_validation(client: TestClient, image_id: str, change: dict,
                           status: int, message: str) -> None:
    body = dict(image_id=image_id, points=[[5, 5]])
    body.update(change)
    response = client.post(
        '/api/prompt', content=json.dumps(body),
        headers={'content-type': 'application/json'})
    assert response.status_code == status, response.text
    assert message in response.json()['error']


def test_prompt_needs_json(client: TestClient) -> None:
    response = client.post('/api/prompt', content=b'{not json',
                           headers={'content-type': 'application/json'})
    assert response.status_code == 400
    assert 'error' in response.json()


def test_panoptic_overlay(client: TestClient, image_id: str) -> None:
    response = client.get('/api/panoptic', params=dict(image_id=image_id))
    assert response.status_code == 200
    assert response.headers['content-type'] == 'image/png'
    assert float(response.headers['x-latency-ms']) > 0
    overlay = cv2.imdecode(np.frombuffer(response.content, np.uint8),
                           cv2.IMREAD_UNCHANGED)
    assert overlay.shape == (96, 128, 4)
    again = client.get('/api/panoptic', params=dict(image_id=image_id))
    assert again.content == response.content
    assert client.get('/api/panoptic').status_code == 400
    missing = client.get('/api/panoptic', params=dict(image_id='f' * 32))
    assert missing.status_code == 404


@pytest.mark.parametrize('host,loopback', [
    ('127.0.0.1', True), ('127.0.0.2', True), ('localhost', True),
    ('::1', True), ('[::1]', True), ('0.0.0.0', False), ('::', False),
    ('192.168.1.10', False), ('example.org', False)
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_demo_refuses_a_remote_host(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location(
        'web_demo', REPO / 'demo' / 'web_demo.py')
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    monkeypatch.setattr('sys.argv', [
        'web_demo.py', str(CONFIG), '--random-weights', '--host', '0.0.0.0'
    ])
    with pytest.raises(SystemExit, match='--allow-remote'):
        demo.main()


# ---- the page in a real browser ------------------------------------------


@pytest.fixture
def live_server(predictor: RapSAMPredictor) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a thread."""
    import uvicorn
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    app = create_app(predictor, max_upload_bytes=MAX_UPLOAD)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level='warning', lifespan='off'))
    thread = threading.Thread(
        target=server.run, kwargs=dict(sockets=[sock]), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError('the web demo server did not start')
            time.sleep(0.05)
        yield f'http://127.0.0.1:{port}'
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def save_artefact(page, tmp_path: Path, name: str) -> Path:
    """Screenshot the page into the test's tmp dir and $RAP_SAM_ARTIFACTS."""
    path = tmp_path / name
    page.screenshot(path=str(path))
    artefacts = os.environ.get('RAP_SAM_ARTIFACTS')
    if artefacts:
        os.makedirs(artefacts, exist_ok=True)
        shutil.copy(path, Path(artefacts) / name)
    return path


@pytest.fixture
def playwright_api() -> Any:
    """Playwright's sync API, or a skip saying what is missing."""
    sync_api = pytest.importorskip(
        'playwright.sync_api',
        reason='playwright is not installed (pip install playwright)')
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f'no Chromium at {CHROMIUM} '
                    '(install it with: apt-get install -y chromium)')
    return sync_api


def test_page_in_headless_chromium(playwright_api: Any, live_server: str,
                                   tmp_path: Path) -> None:
    truck = shared_data('images', 'truck.jpg')
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=CHROMIUM_ARGS, timeout=30_000)
        try:
            page = browser.new_page(viewport=dict(width=1280, height=900))
            page.set_default_timeout(20_000)
            errors: List[str] = []
            page.on('pageerror', lambda exc: errors.append(str(exc)))
            drive_the_page(page, live_server, truck, tmp_path)
            assert errors == []
        finally:
            browser.close()


def drive_the_page(page, url: str, image: Path, tmp_path: Path) -> None:
    page.goto(url)
    page.set_input_files('#file', str(image))
    page.wait_for_selector('#stage[data-state="ready"]')
    size = page.evaluate('[rapSam.width, rapSam.height]')
    rect = page.locator('#prompt-layer').bounding_box()

    def at(x: float, y: float) -> Tuple[float, float]:
        return (rect['x'] + x * rect['width'] / size[0],
                rect['y'] + y * rect['height'] / size[1])

    def wait_for_masks(count: int) -> int:
        # Functions, not strings: the page's CSP forbids eval.
        page.wait_for_function(
            '(n) => rapSam.responses >= n && !rapSam.inFlight && '
            '!rapSam.dirty', arg=count)
        area = page.evaluate('rapSam.maskArea')
        assert page.evaluate(COUNT_ALPHA_JS, 'mask-layer') == area
        return area

    page.mouse.click(*at(500, 375))
    assert wait_for_masks(1) > 0
    assert page.evaluate('rapSam.areas') == [page.evaluate('rapSam.maskArea')]
    page.keyboard.down('Shift')
    page.mouse.click(*at(1000, 300))
    page.keyboard.up('Shift')
    wait_for_masks(2)
    page.mouse.click(*at(300, 900), button='right')
    wait_for_masks(3)
    assert page.evaluate('rapSam.labels') == [1, 0, 0]
    page.mouse.move(*at(425, 600))
    page.mouse.down()
    page.mouse.move(*at(560, 740), steps=4)
    page.mouse.move(*at(700, 875), steps=4)
    page.mouse.up()
    wait_for_masks(4)
    box = page.evaluate('rapSam.box')
    assert box is not None and np.allclose(box, [425, 600, 700, 875], atol=3)
    assert 'prompt' in page.inner_text('#latency')
    save_artefact(page, tmp_path, 'web_demo_prompts.png')

    page.check('#panoptic')
    page.wait_for_selector('#stage[data-panoptic="shown"]')
    assert page.evaluate(COUNT_ALPHA_JS, 'panoptic-layer') > 0
    assert 'panoptic' in page.inner_text('#latency')
    save_artefact(page, tmp_path, 'web_demo_panoptic.png')

    page.click('#clear')
    page.wait_for_function(
        '() => rapSam.maskArea === 0 && !rapSam.points.length')
    assert page.evaluate(COUNT_ALPHA_JS, 'mask-layer') == 0

    fake = tmp_path / 'notes.png'
    fake.write_text('a text file with an image name\n')
    with page.expect_response('**/api/image') as response:
        page.set_input_files('#file', str(fake))
    assert response.value.status == 415
    page.wait_for_selector('#message.error')
    assert 'PNG, JPEG or WebP' in page.inner_text('#message')


@pytest.mark.parametrize('host,status', [
    ('testserver', 200), ('testserver:7860', 200),
    ('evil.example.com', 400), ('evil.example.com:7860', 400),
    ('127.0.0.1.evil.example.com', 400), ('', 400)
])
def test_host_header_is_checked(client: TestClient, host: str,
                                status: int) -> None:
    """A DNS-rebinding page sends its own domain as Host: refused."""
    response = client.get('/api/info', headers={'host': host})
    assert response.status_code == status, response.text
    if status != 200:
        assert 'is not served here' in response.json()['error']


def test_loopback_names_are_the_default_hosts(
        predictor: RapSAMPredictor) -> None:
    app = create_app(predictor, max_upload_bytes=MAX_UPLOAD)
    with TestClient(app) as c:
        assert c.get('/api/info').status_code == 400  # 'testserver'
        for host in ('localhost:7860', '127.0.0.1:7860', '[::1]:7860'):
            response = c.get('/api/info', headers={'host': host})
            assert response.status_code == 200, host


def test_every_error_is_json(client: TestClient, image_id: str) -> None:
    cases = [
        (client.get('/api/nothing'), 404),
        (client.get('/api/image/' + '0' * 32), 404),
        (client.put('/api/prompt', json={}), 405),
    ]
    for response, status in cases:
        assert response.status_code == status
        assert response.headers['content-type'] == 'application/json'
        assert response.json()['error']


@pytest.mark.parametrize('height,width', [(8, 30000), (30000, 8)])
def test_extreme_aspect_ratio_is_422(client: TestClient, height: int,
                                     width: int) -> None:
    """An image that would be under 8 pixels high once resized to the
    model's scale is refused with its size (it was a plain-text 500)."""
    response = upload(client, png_bytes(height, width))
    assert response.status_code == 422, response.text
    assert 'aspect ratio' in response.json()['error']
