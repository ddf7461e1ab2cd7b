"""Load test of the web demo's server on loopback.

Serves ``create_app`` with uvicorn on a free loopback port (in this
process) and runs ``--clients`` client threads for ``--seconds``: each
uploads an image, then prompts it with one to three random clicks in a
loop, uploading a new image every ``--upload-every`` requests. Prints the
request count, answers other than 200 by status (a 404 is an image
evicted by the other clients' uploads, after which the client uploads
again), p50 / p95 / max latency per request kind
and the process's resident memory (RSS) at start, peak and end, sampled
every 0.2 s. Memory must stay bounded: the server keeps at most
``--max-images`` images.

Example (random weights, 8 clients for 60 s)::

    python demo/web_load_test.py \\
        configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py \\
        --random-weights --clients 8 --seconds 60
"""
import argparse
import http.client
import io
import json
import os
import random
import socket
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux ``/proc``)."""
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**20


def png_bytes(rng: np.random.Generator, height: int, width: int) -> bytes:
    """A random PNG with a bright rectangle (something to segment)."""
    from PIL import Image
    image = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    y, x = height // 4, width // 4
    image[y:3 * y, x:3 * x] = rng.integers(150, 255, 3, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, 'PNG')
    return buf.getvalue()


class Client:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)

    def request(self, method: str, path: str, body: bytes = b'',
                headers: Optional[dict] = None) -> tuple:
        self.conn.request(method, path, body, headers or {})
        response = self.conn.getresponse()
        return response.status, response.read()

    def upload(self, data: bytes) -> tuple:
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; '
                'name="file"; filename="load.png"\r\nContent-Type: '
                f'image/png\r\n\r\n').encode() + data + \
            f'\r\n--{boundary}--\r\n'.encode()
        return self.request(
            'POST', '/api/image', body,
            {'Content-Type': f'multipart/form-data; boundary={boundary}'})

    def prompt(self, image_id: str, points: List[List[float]]) -> tuple:
        body = json.dumps(dict(image_id=image_id, points=points)).encode()
        return self.request('POST', '/api/prompt', body,
                            {'Content-Type': 'application/json'})


def client_loop(port: int, seed: int, stop: float, upload_every: int,
                size: Sequence[int], log: Dict[str, list],
                lock: threading.Lock) -> None:
    """Upload, then prompt until ``stop``; record (kind, status, ms)."""
    rng = np.random.default_rng(seed)
    client = Client(port)
    image_id, count = None, 0
    height, width = size
    while time.perf_counter() < stop:
        if image_id is None or count % upload_every == 0:
            kind = 'upload'
            start = time.perf_counter()
            status, body = client.upload(png_bytes(rng, height, width))
            if status == 200:
                image_id = json.loads(body)['image_id']
        else:
            kind = 'prompt'
            points = [[float(rng.uniform(0, width - 1)),
                       float(rng.uniform(0, height - 1))]
                      for _ in range(int(rng.integers(1, 4)))]
            start = time.perf_counter()
            status, body = client.prompt(image_id, points)
            if status == 404:  # evicted by other clients' uploads
                image_id = None
        elapsed = (time.perf_counter() - start) * 1000
        with lock:
            log[kind].append((status, elapsed))
        count += 1


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument('--checkpoint')
    weights.add_argument('--random-weights', action='store_true')
    parser.add_argument('--clients', type=int, default=8)
    parser.add_argument('--seconds', type=float, default=60)
    parser.add_argument('--upload-every', type=int, default=10,
                        help='a client uploads a new image every N requests')
    parser.add_argument('--image-size', type=int, nargs=2,
                        default=[480, 640], metavar=('H', 'W'))
    parser.add_argument('--scale', type=int, nargs=2, default=[640, 480],
                        metavar=('LONG', 'SHORT'))
    parser.add_argument('--max-images', type=int, default=4)
    parser.add_argument('--threads', type=int, default=2)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    import torch
    import uvicorn

    from rap_sam.inference import RapSAMPredictor, build_model
    from web_server.app import create_app
    torch.set_num_threads(args.threads)
    random.seed(0)
    torch.manual_seed(0)
    model = build_model(args.config, args.checkpoint, 'cpu',
                        random_weights=args.random_weights,
                        cfg_options={'model.test_cfg.instance_on': False})
    predictor = RapSAMPredictor(model, scale=tuple(args.scale))
    app = create_app(predictor, max_images=args.max_images)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level='warning', lifespan='off'))
    thread = threading.Thread(target=server.run,
                              kwargs=dict(sockets=[sock]), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    log: Dict[str, list] = defaultdict(list)
    lock = threading.Lock()
    rss = [rss_mb()]
    stop = time.perf_counter() + args.seconds
    clients = [
        threading.Thread(
            target=client_loop,
            args=(port, seed, stop, args.upload_every, args.image_size, log,
                  lock)) for seed in range(args.clients)
    ]
    for c in clients:
        c.start()
    while any(c.is_alive() for c in clients):
        rss.append(rss_mb())
        time.sleep(0.2)
    for c in clients:
        c.join()
    rss.append(rss_mb())
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()

    report = dict(clients=args.clients, seconds=args.seconds,
                  rss_mb=dict(start=rss[0], peak=max(rss), end=rss[-1]),
                  kinds={})
    print(f'{args.clients} clients for {args.seconds:.0f} s, images '
          f'{args.image_size[1]}x{args.image_size[0]} at scale '
          f'{args.scale[0]}x{args.scale[1]}, {args.threads} torch threads')
    print('| request | count | not 200 | p50 ms | p95 ms | max ms |')
    print('|---|---|---|---|---|---|')
    for kind, rows in sorted(log.items()):
        times = [ms for _, ms in rows]
        errors = Counter(status for status, _ in rows if status != 200)
        report['kinds'][kind] = dict(
            count=len(rows), errors=dict(errors),
            p50_ms=statistics.median(times), p95_ms=percentile(times, 0.95),
            max_ms=max(times))
        print(f'| {kind} | {len(rows)} | {sum(errors.values())} '
              f'{dict(errors) or ""} | {statistics.median(times):.0f} | '
              f'{percentile(times, 0.95):.0f} | {max(times):.0f} |')
    print(f'RSS: start {rss[0]:.0f} MiB, peak {max(rss):.0f} MiB, end '
          f'{rss[-1]:.0f} MiB')
    return report


if __name__ == '__main__':
    main()
