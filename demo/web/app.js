// RAP-SAM web demo: prompts in, masks out. Plain browser JavaScript.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const stage = $('stage');
  const layers = {
    image: $('image-layer'),
    panoptic: $('panoptic-layer'),
    mask: $('mask-layer'),
    prompt: $('prompt-layer'),
  };
  const ui = {
    file: $('file'),
    undo: $('undo'),
    clear: $('clear'),
    panoptic: $('panoptic'),
    latency: $('latency'),
    message: $('message'),
  };
  const DRAG_PX = 5; // a press that moves further is a box, not a click
  const POSITIVE = '#2ecc40';
  const NEGATIVE = '#ff4136';
  const FILL_ALPHA = 128;

  // Mask colours, spread around the hue circle by the golden ratio.
  function hsvToRgb(h, s, v) {
    const i = Math.floor(h * 6);
    const f = h * 6 - i;
    const p = v * (1 - s);
    const q = v * (1 - f * s);
    const t = v * (1 - (1 - f) * s);
    const rgb = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v],
                 [v, p, q]][i % 6];
    return rgb.map((x) => Math.round(x * 255));
  }
  const PALETTE = Array.from(
    {length: 256}, (_, i) => hsvToRgb((i * 0.618033988749895) % 1, 0.78, 1));

  // Everything the page knows; also read by the end-to-end test.
  const state = {
    imageId: null,
    width: 0,
    height: 0,
    points: [],
    labels: [],
    box: null,
    history: [],
    version: 0,
    inFlight: false,
    dirty: false,
    maskArea: 0,
    areas: [],
    iou: [],
    responses: 0,
    panopticShown: false,
    latency: {},
    lastError: null,
  };
  window.rapSam = state;

  function setMessage(text, isError = false) {
    ui.message.textContent = text;
    ui.message.classList.toggle('error', isError);
  }

  function showLatency() {
    const ms = (v) => `${Math.round(v)} ms`;
    const l = state.latency;
    const parts = [];
    if (l.setImage !== undefined) parts.push(`set_image ${ms(l.setImage)}`);
    if (l.prompt !== undefined) {
      parts.push(`prompt ${ms(l.prompt)} on the server ` +
                 `(${ms(l.roundTrip)} round trip)`);
    }
    if (l.panoptic !== undefined) parts.push(`panoptic ${ms(l.panoptic)}`);
    ui.latency.textContent = parts.join(' \u00b7 ');
  }

  async function fail(response) {
    let error = response.statusText || 'request failed';
    try {
      error = (await response.json()).error || error;
    } catch (e) { /* not JSON */ }
    state.lastError = {status: response.status, error};
    stage.dataset.state = 'error';
    stage.dataset.errorStatus = String(response.status);
    setMessage(`Error ${response.status}: ${error}`, true);
  }

  function networkError(err) {
    state.lastError = {status: 0, error: String(err)};
    stage.dataset.state = 'error';
    setMessage(`Network error: ${err}`, true);
  }

  function loadImage(src) {
    const img = new Image();
    img.src = src;
    return img.decode().then(() => img);
  }

  // ---- images ----------------------------------------------------------

  async function uploadFile(file) {
    if (!file) return;
    setMessage(`Uploading ${file.name}\u2026`);
    stage.dataset.state = 'busy';
    const form = new FormData();
    form.append('file', file, file.name);
    try {
      const response = await fetch('/api/image', {method: 'POST', body: form});
      if (!response.ok) return await fail(response);
      await openImage(await response.json());
    } catch (err) {
      networkError(err);
    }
  }

  async function openImage(info) {
    const img = await loadImage(`/api/image/${info.image_id}`);
    for (const canvas of Object.values(layers)) {
      canvas.width = info.width;
      canvas.height = info.height;
    }
    layers.image.getContext('2d').drawImage(img, 0, 0);
    Object.assign(state, {
      imageId: info.image_id, width: info.width, height: info.height,
      points: [], labels: [], box: null, history: [], maskArea: 0,
      areas: [], iou: [],
      panopticShown: false, lastError: null,
      latency: {setImage: info.set_image_ms},
    });
    state.version += 1;
    stage.dataset.imageId = info.image_id;
    stage.dataset.maskArea = '0';
    stage.dataset.state = 'ready';
    delete stage.dataset.errorStatus;
    for (const el of [ui.undo, ui.clear, ui.panoptic]) el.disabled = false;
    showLatency();
    setMessage(`${info.width}\u00d7${info.height} image ready: click on it.`);
    if (ui.panoptic.checked) await showPanoptic();
  }

  async function showPanoptic() {
    layers.panoptic.hidden = !ui.panoptic.checked;
    if (!ui.panoptic.checked || state.panopticShown || !state.imageId) return;
    const imageId = state.imageId;
    setMessage('Computing the panoptic segmentation\u2026');
    try {
      const response = await fetch(`/api/panoptic?image_id=${imageId}`);
      if (!response.ok) return await fail(response);
      const url = URL.createObjectURL(await response.blob());
      const img = await loadImage(url);
      URL.revokeObjectURL(url);
      if (imageId !== state.imageId) return;
      const ctx = layers.panoptic.getContext('2d');
      ctx.clearRect(0, 0, state.width, state.height);
      ctx.drawImage(img, 0, 0);
      state.panopticShown = true;
      stage.dataset.panoptic = 'shown';
      state.latency.panoptic = parseFloat(
        response.headers.get('X-Latency-Ms'));
      showLatency();
      setMessage('Panoptic segmentation shown.');
    } catch (err) {
      networkError(err);
    }
  }

  // ---- prompts ---------------------------------------------------------

  function toImage(ev) {
    const rect = layers.prompt.getBoundingClientRect();
    const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);
    const round = (v) => Math.round(v * 10) / 10;
    return [
      round(clamp((ev.clientX - rect.left) / rect.width * state.width,
                  state.width)),
      round(clamp((ev.clientY - rect.top) / rect.height * state.height,
                  state.height)),
    ];
  }

  function boxFrom(a, b) {
    return [Math.min(a[0], b[0]), Math.min(a[1], b[1]),
            Math.max(a[0], b[0]), Math.max(a[1], b[1])];
  }

  function drawPrompts(rubberBand = null) {
    const canvas = layers.prompt;
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!state.imageId) return;
    // Image pixels per screen pixel: markers keep their on-screen size.
    const px = state.width / (canvas.getBoundingClientRect().width || 1);
    const drawBox = (b, dashed) => {
      ctx.setLineDash(dashed ? [6 * px, 4 * px] : []);
      ctx.lineWidth = 2 * px;
      ctx.strokeStyle = POSITIVE;
      ctx.strokeRect(b[0], b[1], b[2] - b[0], b[3] - b[1]);
    };
    if (state.box) drawBox(state.box, false);
    if (rubberBand) drawBox(rubberBand, true);
    ctx.setLineDash([]);
    state.points.forEach(([x, y], i) => {
      ctx.beginPath();
      ctx.arc(x, y, 6 * px, 0, 2 * Math.PI);
      ctx.fillStyle = state.labels[i] ? POSITIVE : NEGATIVE;
      ctx.fill();
      ctx.lineWidth = 2 * px;
      ctx.strokeStyle = '#fff';
      ctx.stroke();
    });
  }

  function promptsChanged() {
    state.version += 1;
    drawPrompts();
    requestMask();
  }

  function clearMask() {
    const ctx = layers.mask.getContext('2d');
    ctx.clearRect(0, 0, layers.mask.width, layers.mask.height);
    state.maskArea = 0;
    state.areas = [];
    state.iou = [];
    stage.dataset.maskArea = '0';
  }

  async function requestMask() {
    if (!state.imageId) return;
    if (!state.points.length && !state.box) {
      clearMask();
      stage.dataset.state = 'ready';
      return;
    }
    if (state.inFlight) {
      state.dirty = true;
      return;
    }
    state.inFlight = true;
    stage.dataset.state = 'busy';
    const version = state.version;
    const body = {
      image_id: state.imageId,
      points: state.points,
      labels: state.labels,
      boxes: state.box ? [state.box] : [],
    };
    const start = performance.now();
    try {
      const response = await fetch('/api/prompt', {
        method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify(body),
      });
      if (!response.ok) {
        await fail(response);
      } else {
        const data = await response.json();
        const roundTrip = performance.now() - start;
        const labels = await decodeLabels(data.mask_png);
        if (version === state.version) drawMask(data, labels, roundTrip);
      }
    } catch (err) {
      networkError(err);
    } finally {
      state.inFlight = false;
      if (state.dirty) {
        state.dirty = false;
        requestMask();
      }
    }
  }

  // The server sends one grey PNG: pixel i + 1 inside the mask of prompt i.
  async function decodeLabels(b64) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(
      new Blob([bytes], {type: 'image/png'}),
      {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
    const canvas = document.createElement('canvas');
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const ctx = canvas.getContext('2d', {willReadFrequently: true});
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    const grey = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const labels = new Uint8Array(canvas.width * canvas.height);
    for (let j = 0; j < labels.length; j++) labels[j] = grey[4 * j];
    return labels;
  }

  // Colour the labels onto the mask layer, outlines opaque; returns the
  // number of pixels covered.
  function paintLabels(labels) {
    const w = state.width;
    const n = labels.length;
    const ctx = layers.mask.getContext('2d');
    const frame = ctx.createImageData(w, state.height);
    const d = frame.data;
    let area = 0;
    for (let j = 0; j < n; j++) {
      const v = labels[j];
      if (!v) continue;
      area++;
      const x = j % w;
      const edge = (x > 0 && labels[j - 1] !== v) ||
                   (x < w - 1 && labels[j + 1] !== v) ||
                   (j >= w && labels[j - w] !== v) ||
                   (j < n - w && labels[j + w] !== v);
      const c = PALETTE[v];
      d[4 * j] = c[0];
      d[4 * j + 1] = c[1];
      d[4 * j + 2] = c[2];
      d[4 * j + 3] = edge ? 255 : FILL_ALPHA;
    }
    ctx.putImageData(frame, 0, 0);
    return area;
  }

  function drawMask(data, labels, roundTrip) {
    if (labels.length !== state.width * state.height) {
      return setMessage('The mask does not match the image size.', true);
    }
    state.maskArea = paintLabels(labels);
    state.areas = data.area;
    state.iou = data.iou;
    state.responses += 1;
    state.latency.prompt = data.latency_ms;
    state.latency.roundTrip = roundTrip;
    stage.dataset.maskArea = String(state.maskArea);
    stage.dataset.responses = String(state.responses);
    stage.dataset.state = 'mask';
    showLatency();
    const iou = data.iou.map((v) => v.toFixed(2)).join(', ');
    const share = 100 * state.maskArea / (state.width * state.height);
    setMessage(`${data.iou.length} mask(s): ${state.maskArea} px ` +
               `(${share.toFixed(1)}% of the image), predicted IoU ${iou}`);
  }

  function undo() {
    const last = state.history.pop();
    if (!last) return;
    if (last.kind === 'point') {
      state.points.pop();
      state.labels.pop();
    } else {
      state.box = last.previous;
    }
    promptsChanged();
  }

  function clearPrompts() {
    Object.assign(state, {points: [], labels: [], box: null, history: []});
    promptsChanged();
  }

  // ---- events ----------------------------------------------------------

  let drag = null;
  const prompt = layers.prompt;
  prompt.addEventListener('contextmenu', (ev) => ev.preventDefault());
  prompt.addEventListener('pointerdown', (ev) => {
    if (!state.imageId || (ev.button !== 0 && ev.button !== 2)) return;
    ev.preventDefault();
    prompt.setPointerCapture(ev.pointerId);
    drag = {start: toImage(ev), x: ev.clientX, y: ev.clientY,
            button: ev.button, shift: ev.shiftKey, moved: false};
  });
  prompt.addEventListener('pointermove', (ev) => {
    if (!drag) return;
    const far = Math.hypot(ev.clientX - drag.x, ev.clientY - drag.y);
    if (!drag.moved && far < DRAG_PX) return;
    drag.moved = true;
    if (drag.button === 0) drawPrompts(boxFrom(drag.start, toImage(ev)));
  });
  prompt.addEventListener('pointerup', (ev) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (d.moved && d.button === 0) {
      const box = boxFrom(d.start, toImage(ev));
      if (box[2] - box[0] < 1 || box[3] - box[1] < 1) return drawPrompts();
      state.history.push({kind: 'box', previous: state.box});
      state.box = box;
    } else if (!d.moved) {
      state.points.push(d.start);
      state.labels.push(d.button === 2 || d.shift ? 0 : 1);
      state.history.push({kind: 'point'});
    } else {
      return drawPrompts();
    }
    promptsChanged();
  });
  prompt.addEventListener('pointercancel', () => {
    drag = null;
    drawPrompts();
  });

  ui.file.addEventListener('change', () => {
    uploadFile(ui.file.files[0]);
    ui.file.value = '';
  });
  ui.undo.addEventListener('click', undo);
  ui.clear.addEventListener('click', clearPrompts);
  ui.panoptic.addEventListener('change', showPanoptic);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') clearPrompts();
    if (ev.key === 'z' && (ev.ctrlKey || ev.metaKey)) undo();
  });
  window.addEventListener('resize', () => drawPrompts());

  const main = document.querySelector('main');
  main.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    stage.classList.add('dragover');
  });
  main.addEventListener('dragleave', () => stage.classList.remove('dragover'));
  main.addEventListener('drop', (ev) => {
    ev.preventDefault();
    stage.classList.remove('dragover');
    uploadFile(ev.dataTransfer.files[0]);
  });

  fetch('/api/info')
    .then((response) => response.json())
    .then((info) => {
      if (info.default) return openImage(info.default);
      return undefined;
    })
    .catch(networkError);
})();
