// The Inspect tab: the loaded model's summary (bits, memory, savings against float32, MACs), and
// for one input the binarized activations every binary layer reads, drawn as black/white images
// and downloadable as .npy (+1/-1 as int8): the compute-in-memory use case's input bits.
import { summarize, writeNpy, type ModelSummary } from 'webgpu-bnn';
import type { AppState } from './app-state.js';
import { errorText, showBanner } from './banner.js';
import { download, el } from './dom.js';
import { firstSamples, loadMnistInPage } from './mnist-data.js';
import type { Reduced } from './reduce-image.js';

const bytes = (b: number) => (b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : b >= 1e3 ? `${(b / 1e3).toFixed(2)} kB` : `${b} B`);
const count = (n: number) => n.toLocaleString('en-US');

function summaryTable(s: ModelSummary): HTMLElement {
  const head = ['Layer', 'Class', 'Output shape', 'Input bits', '1-bit params', '32-bit params', 'Other params', 'Memory', '1-bit MACs', 'Other MACs'];
  const rows = s.layers.map((l) => {
    const other = [...l.params].filter(([b]) => b !== 1 && b !== 32).reduce((a, [, n]) => a + n, 0);
    return [l.name, l.class, `[${l.outputShape.join(', ')}]`, String(l.inputBits), count(l.params.get(1) ?? 0), count(l.params.get(32) ?? 0), count(other), bytes(l.memoryBits / 8), count(l.binaryMacs), count(l.otherMacs)];
  });
  const ratio = s.memoryBytes > 0 ? s.float32Bytes / s.memoryBytes : 1;
  return el('div', {},
    el('table', { class: 'summary', 'data-summary': '' }, el('tr', {}, ...head.map((h) => el('th', {}, h))), ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c))))),
    el('p', { 'data-totals': '' },
      `Parameters: ${count(s.totalParams)} (${count(s.binaryParams)} binarized). Memory: ${bytes(s.memoryBytes)}, against ${bytes(s.float32Bytes)} in float32: ${ratio.toFixed(2)}x smaller (saving ${(100 * (1 - 1 / ratio)).toFixed(1)}%). ` +
        `MACs per sample: ${count(s.binaryMacs)} binary (XNOR-popcount), ${count(s.otherMacs)} other.`,
    ),
  );
}

/** +-1 values [1, ...shape] drawn as an image: a flat vector as a near-square grid, [H, W, C] as C tiles of H x W. */
function activationImage(data: Float32Array, shape: number[]): HTMLCanvasElement {
  const s = shape.slice(1);
  let tileH: number, tileW: number, tiles: number;
  if (s.length === 3) [tileH, tileW, tiles] = s;
  else {
    const n = s.reduce((a, b) => a * b, 1);
    tileW = Math.ceil(Math.sqrt(n));
    tileH = Math.ceil(n / tileW);
    tiles = 1;
  }
  const cols = Math.ceil(Math.sqrt(tiles));
  const rows = Math.ceil(tiles / cols);
  const W = cols * (tileW + 1) - 1;
  const H = rows * (tileH + 1) - 1;
  const c = el('canvas', { width: W, height: H });
  const ctx = c.getContext('2d')!;
  const img = ctx.createImageData(W, H);
  img.data.fill(128); // gaps between tiles: gray
  for (let t = 0; t < tiles; t++) {
    const ox = (t % cols) * (tileW + 1);
    const oy = Math.floor(t / cols) * (tileH + 1);
    for (let i = 0; i < tileH * tileW; i++) {
      const index = s.length === 3 ? i * tiles + t : i;
      if (index >= data.length) continue;
      const v = data[index] > 0 ? 255 : 0;
      const at = 4 * ((oy + Math.floor(i / tileW)) * W + ox + (i % tileW));
      img.data[at] = img.data[at + 1] = img.data[at + 2] = v;
      img.data[at + 3] = 255;
    }
  }
  for (let i = 3; i < img.data.length; i += 4) img.data[i] = 255;
  ctx.putImageData(img, 0, 0);
  const zoom = Math.max(1, Math.floor(240 / Math.max(W, H)));
  c.style.width = `${W * zoom}px`;
  c.style.height = `${H * zoom}px`;
  return c;
}

export function inspectTab(root: HTMLElement, app: AppState, lastInput: () => Reduced | null): { render(): Promise<void> } {
  const summaryBox = el('div', {});
  const actBox = el('div', { class: 'activations' });
  const note = el('p', { class: 'muted' });
  const digit = el('input', { type: 'number', name: 'digit', min: 0, max: 9999, value: 0 });
  const useDigit = el('button', { name: 'use-digit' }, 'Use MNIST test image #');
  const usePredict = el('button', { name: 'use-predict' }, 'Use the Predict tab’s input');
  const downloadAll = el('button', { name: 'npy-all', disabled: true }, 'Download all (.npy)');
  let files: { name: string; data: Uint8Array }[] = [];

  root.append(
    el('div', { class: 'card' }, el('h2', {}, 'Model summary'), summaryBox),
    el('div', { class: 'card' },
      el('h2', {}, 'Binarized activations for one input'),
      el('p', { class: 'muted' }, 'What each binary layer reads: its input after the sign quantizer, +1 white and −1 black (convolutions: one tile per channel). Saved as .npy: int8 +1/−1, shape [1, ...].'),
      el('div', { class: 'row' }, usePredict, useDigit, digit, downloadAll),
      note,
      actBox,
    ),
  );

  async function activations(input: Float32Array, what: string): Promise<void> {
    const model = app.model;
    if (!model) return;
    const s = summarize(model.spec);
    const names = s.layers.filter((l) => l.inputBits === 1 && (l.class === 'QuantDense' || l.class === 'QuantConv2D')).map((l) => `${l.name}:input`);
    if (!names.length) {
      note.textContent = 'This model has no layer with 1-bit inputs.';
      actBox.replaceChildren();
      return;
    }
    try {
      const plan = await app.plan();
      const out = await plan.run(input, { outputs: names });
      files = [];
      actBox.replaceChildren(
        ...names.map((name) => {
          const o = out.get(name)!;
          const values = Int8Array.from(o.data, (v) => (v > 0 ? 1 : -1));
          const file = { name: `${name.replace(':', '_')}.npy`, data: writeNpy(values, o.shape) };
          files.push(file);
          const bits = values.length;
          return el('figure', { 'data-layer': name },
            activationImage(o.data, o.shape),
            el('figcaption', {}, `${name} [${o.shape.slice(1).join('x')}]: ${count(bits)} bits = ${bytes(Math.ceil(bits / 8))} (${bytes(bits * 4)} as float32) `, el('button', { onclick: () => download(file.name, file.data as BlobPart) }, '.npy')),
          );
        }),
      );
      downloadAll.disabled = false;
      note.textContent = `Input: ${what}.`;
      root.dataset.activations = JSON.stringify(files.map((f) => ({ name: f.name, bytes: f.data.length })));
    } catch (err) {
      showBanner({ kind: 'inspect-failed', level: 'error', title: 'Activations could not be computed', text: errorText(err) });
    }
  }

  async function fromDigit(): Promise<void> {
    const [H, W, C] = app.inputShape;
    if (H !== 28 || W !== 28 || C !== 1) {
      note.textContent = 'MNIST images fit 28x28 gray models only: use the Predict tab’s input.';
      return;
    }
    try {
      const mnist = await loadMnistInPage();
      const k = Math.min(Math.max(0, Math.floor(Number(digit.value) || 0)), mnist.test.count - 1);
      const one = firstSamples(mnist.test, k + 1);
      await activations(app.preprocess(one.images.subarray(k * 784, (k + 1) * 784), new Float32Array(784)), `MNIST test image #${k} (label ${one.labels[k]})`);
    } catch (err) {
      showBanner({ kind: 'data', level: 'error', title: 'MNIST could not be loaded', text: errorText(err) });
    }
  }

  async function fromPredict(): Promise<boolean> {
    const r = lastInput();
    const shape = app.inputShape;
    if (!r || r.shape.join() !== shape.join()) {
      note.textContent = 'No Predict input for this model yet: draw or pick a photo on the Predict tab.';
      return false;
    }
    await activations(r.input, 'the Predict tab’s input');
    return true;
  }

  useDigit.addEventListener('click', () => void fromDigit());
  usePredict.addEventListener('click', () => void fromPredict());
  downloadAll.addEventListener('click', () => files.forEach((f) => download(f.name, f.data as BlobPart)));

  async function render(): Promise<void> {
    if (!app.model) {
      summaryBox.replaceChildren(el('p', {}, 'No model yet: train one on the Train tab, or load one there (model.json + its .bin files).'));
      return;
    }
    summaryBox.replaceChildren(summaryTable(summarize(app.model.spec)));
    if (!(await fromPredict())) await fromDigit();
  }
  app.onModel(() => {
    actBox.replaceChildren();
    downloadAll.disabled = true;
    delete root.dataset.activations;
    if (!root.hidden) void render();
  });
  return { render };
}
