"""A local web page for interactive segmentation with a
:class:`RapSAMPredictor` (FastAPI app; see ``demo/web_demo.py``).

API (every error is JSON ``{"error": message}``: 400 malformed request,
404 unknown image or path, 413 body too large, 415 not an image, 422 an
image or prompt the model cannot take, 500 a bug; requests whose ``Host``
header is not one of the server's names are refused with 400, so that a
page from another site cannot reach the API through DNS rebinding):

- ``POST /api/image`` multipart field ``file`` (PNG, JPEG or WebP, type
  sniffed from the content) -> ``{image_id, width, height, set_image_ms}``.
- ``GET /api/image/{image_id}`` -> the decoded image as JPEG (what the
  page shows, so clicks and masks share one pixel grid).
- ``POST /api/prompt`` ``{image_id, points, labels, boxes}`` ->
  ``{mask_png, iou, area, latency_ms, total_ms}``: ``mask_png`` is a base64
  8-bit grey PNG at the image size, pixel ``i + 1`` inside the mask of
  prompt ``i`` and 0 outside every mask (far cheaper to encode than
  an RGBA overlay: the page colours it); ``iou`` and ``area`` (pixels)
  have one value per prompt, ``latency_ms`` times the model's decoding
  and ``total_ms`` the whole request.
- ``GET /api/panoptic?image_id=`` -> RGBA PNG overlay of the panoptic
  segmentation, its latency in the ``X-Latency-Ms`` header.
- ``GET /api/info`` -> limits and the default image, if any.
"""
import base64
import ipaddress
import time
from pathlib import Path
from typing import (Annotated, Any, Dict, List, Optional, Sequence, Tuple,
                    Union)

import cv2
import numpy as np
from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from rap_sam.inference import RapSAMPredictor, to_rgb_uint8
from .session import (ApiError, ImageSession, decode_image, encode_png,
                      masks_to_labels)

DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
MAX_POINTS = 64
MAX_BOXES = 16
# Room for the multipart framing around the file in a request body.
MULTIPART_OVERHEAD = 64 * 1024
IMAGE_ID_PATTERN = r'^[0-9a-f]{32}$'
LOOPBACK_NAMES = ('localhost', '127.0.0.1', '::1')
SECURITY_HEADERS = {
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Content-Security-Policy':
    "default-src 'self'; img-src 'self' data: blob:; "
    "script-src 'self'; style-src 'self'; object-src 'none'",
}
Coordinate = Annotated[float, Field(allow_inf_nan=False)]


class PromptRequest(BaseModel):
    """Body of ``POST /api/prompt``: one prompt made of all the points and
    at most one box, or one prompt per box when there are no points."""
    model_config = ConfigDict(extra='forbid')

    image_id: str = Field(pattern=IMAGE_ID_PATTERN)
    points: List[Tuple[Coordinate, Coordinate]] = Field(
        default_factory=list, max_length=MAX_POINTS)
    labels: List[Annotated[int, Field(ge=0, le=1)]] = Field(
        default_factory=list, max_length=MAX_POINTS)
    boxes: List[Tuple[Coordinate, Coordinate, Coordinate, Coordinate]] = \
        Field(default_factory=list, max_length=MAX_BOXES)


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine.

    Args:
        host (str): ``localhost`` or an IPv4 / IPv6 address.

    Returns:
        bool: True for ``localhost`` and loopback addresses.
    """
    if host.lower() == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return False


def check_prompt(body: PromptRequest, width: int,
                 height: int) -> Dict[str, Optional[np.ndarray]]:
    """Validate a prompt request against an image of ``width`` x
    ``height`` pixels.

    Returns:
        dict: ``points``, ``point_labels`` and ``boxes`` for
        :meth:`RapSAMPredictor.predict`.

    Raises:
        ApiError: 400 with the first problem found.
    """
    if not body.points and not body.boxes:
        raise ApiError(400, 'give at least one point or one box')
    if body.labels and len(body.labels) != len(body.points):
        raise ApiError(400, f'{len(body.labels)} labels for '
                       f'{len(body.points)} points')
    if body.points and len(body.boxes) > 1:
        raise ApiError(400, 'with points, give at most one box')
    for x, y in body.points:
        if not (0 <= x <= width and 0 <= y <= height):
            raise ApiError(400, f'point ({x}, {y}) lies outside the image '
                           f'(width {width}, height {height})')
    for x1, y1, x2, y2 in body.boxes:
        if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
            raise ApiError(
                400, f'box ({x1}, {y1}, {x2}, {y2}) must satisfy 0 <= x1 < '
                f'x2 <= {width} and 0 <= y1 < y2 <= {height}')
    points = labels = boxes = None
    if body.points:
        points = np.asarray(body.points, np.float32)[None]
        labels = np.asarray(body.labels or [1] * len(body.points))[None]
    if body.boxes:
        boxes = np.asarray(body.boxes, np.float32)
    return dict(points=points, point_labels=labels, boxes=boxes)


def default_static_dir() -> Path:
    """``demo/web``: the page beside this package."""
    return Path(__file__).resolve().parents[1] / 'web'


class BodyLimitMiddleware:
    """ASGI middleware answering 413 to request bodies over ``limit``
    bytes, whether announced by Content-Length or streamed.

    Args:
        app: The ASGI app.
        limit (int): Largest body accepted, in bytes.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope['type'] != 'http':
            return await self.app(scope, receive, send)
        too_large = JSONResponse(
            {'error': f'request body over {self.limit} bytes'}, 413)
        length = dict(scope['headers']).get(b'content-length')
        if length is not None and (not length.isdigit()
                                   or int(length) > self.limit):
            return await too_large(scope, receive, send)
        body = bytearray()
        while True:
            message = await receive()
            if message['type'] == 'http.disconnect':
                return
            body += message.get('body', b'')
            if len(body) > self.limit:
                return await too_large(scope, receive, send)
            if not message.get('more_body', False):
                break
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {'type': 'http.request', 'body': bytes(body),
                        'more_body': False}
            return await receive()

        await self.app(scope, replay, send)


def host_name(host_header: str) -> str:
    """The host of a ``Host`` header, without port or IPv6 brackets."""
    host = host_header.strip().lower()
    if host.startswith('['):
        return host[1:host.find(']')] if ']' in host else host[1:]
    return host.rsplit(':', 1)[0] if host.count(':') == 1 else host


class HostCheckMiddleware:
    """ASGI middleware answering JSON 400 to a request whose ``Host`` is
    not one of ``allowed_hosts`` (a DNS-rebinding page names its own
    domain there).

    Args:
        app: The ASGI app.
        allowed_hosts (Sequence[str]): Host names and addresses, without
            port.
    """

    def __init__(self, app: Any, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.allowed = {host_name(h) for h in allowed_hosts}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope['type'] in ('http', 'websocket'):
            header = dict(scope['headers']).get(b'host', b'').decode(
                'latin-1')
            if host_name(header) not in self.allowed:
                refused = JSONResponse(
                    {'error': f'Host {header!r} is not served here'}, 400)
                return await refused(scope, receive, send)
        return await self.app(scope, receive, send)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = '.'.join(str(p) for p in error.get('loc', ()) if p != 'body')
        parts.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return '; '.join(parts)


def create_app(predictor: RapSAMPredictor,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
               max_pixels: int = DEFAULT_MAX_PIXELS,
               max_images: int = 4,
               static_dir: Optional[Union[str, Path]] = None,
               default_image: Optional[Union[str, np.ndarray]] = None,
               allowed_hosts: Sequence[str] = LOOPBACK_NAMES) -> FastAPI:
    """Build the web app around a predictor.

    Args:
        predictor (RapSAMPredictor): Segments the images.
        max_upload_bytes (int): Largest upload accepted (413 above).
        max_pixels (int): Largest width * height accepted (400 above).
        max_images (int): Uploaded images kept in memory.
        static_dir (str | Path, optional): Folder with ``index.html``,
            ``app.js`` and ``style.css``. Defaults to the repository's
            ``demo/web``.
        default_image (str | np.ndarray, optional): An image opened when
            the page loads; its features are computed here.
        allowed_hosts (Sequence[str]): The names the server answers to in
            the ``Host`` header. Defaults to the loopback names.

    Returns:
        FastAPI: The app, to serve with uvicorn or test with TestClient.
    """
    static = Path(static_dir) if static_dir else default_static_dir()
    if not (static / 'index.html').is_file():
        raise FileNotFoundError(f'no index.html in {static}')
    session = ImageSession(predictor, max_images)
    default: Optional[Dict[str, Any]] = None
    if default_image is not None:
        image = to_rgb_uint8(default_image)
        image_id, elapsed = session.add(image)
        default = dict(image_id=image_id, width=image.shape[1],
                       height=image.shape[0], set_image_ms=elapsed)

    app = FastAPI(title='RAP-SAM interactive segmentation', docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.session = session
    app.add_middleware(BodyLimitMiddleware,
                       limit=max_upload_bytes + MULTIPART_OVERHEAD)
    app.add_middleware(HostCheckMiddleware, allowed_hosts=allowed_hosts)

    @app.middleware('http')
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({'error': exc.message}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request,
                      exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({'error': _validation_message(exc)}, 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request,
                         exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({'error': str(exc.detail)}, exc.status_code)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {'error': f'internal error ({type(exc).__name__}): {exc}'}, 500)

    app.mount('/static', StaticFiles(directory=static), name='static')

    @app.get('/', include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static / 'index.html')

    @app.get('/api/info')
    def info() -> Dict[str, Any]:
        return dict(max_upload_bytes=max_upload_bytes,
                    max_pixels=max_pixels, scale=list(predictor.scale),
                    default=default)

    @app.post('/api/image')
    def upload(file: UploadFile = File(...)) -> Dict[str, Any]:
        data = file.file.read(max_upload_bytes + 1)
        if len(data) > max_upload_bytes:
            raise ApiError(413, f'file over {max_upload_bytes} bytes')
        if not data:
            raise ApiError(400, 'the file is empty')
        image = decode_image(data, max_pixels)
        image_id, elapsed = session.add(image)
        return dict(image_id=image_id, width=image.shape[1],
                    height=image.shape[0], set_image_ms=elapsed)

    @app.get('/api/image/{image_id}')
    def image_file(image_id: str) -> Response:
        entry = session.get(image_id)
        ok, buf = cv2.imencode('.jpg', entry.image[..., ::-1],
                               [cv2.IMWRITE_JPEG_QUALITY, 92])
        return Response(buf.tobytes(), media_type='image/jpeg',
                        headers={'Cache-Control': 'private, max-age=3600'})

    @app.post('/api/prompt')
    def prompt(body: PromptRequest) -> Dict[str, Any]:
        start = time.perf_counter()
        entry = session.get(body.image_id)
        height, width = entry.image.shape[:2]
        prompts = check_prompt(body, width, height)
        try:
            result, elapsed = session.predict(body.image_id, **prompts)
        except ValueError as exc:
            raise ApiError(422, str(exc)) from exc
        masks = result['masks']
        png = encode_png(masks_to_labels(masks))
        return dict(
            image_id=body.image_id,
            mask_png=base64.b64encode(png).decode('ascii'),
            iou=[float(s) for s in result['iou_scores']],
            area=[int(m.sum()) for m in masks],
            width=width, height=height, latency_ms=elapsed,
            total_ms=(time.perf_counter() - start) * 1000)

    @app.get('/api/panoptic')
    def panoptic(image_id: str = Query(pattern=IMAGE_ID_PATTERN)
                 ) -> Response:
        png, elapsed = session.panoptic_png(image_id)
        return Response(png, media_type='image/png',
                        headers={'X-Latency-Ms': f'{elapsed:.1f}'})

    return app
