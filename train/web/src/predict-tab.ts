// The Predict tab: draw a digit or drop/upload a photo (or pick an example); it is reduced to the
// model's input, shown at that size, classified by the current model on the GPU, and the class
// probabilities drawn as bars with the top-1 highlighted and the inference time.
import { argmax } from 'webgpu-bnn';
import type { AppState } from './app-state.js';
import { errorText, showBanner } from './banner.js';
import { barChart } from './charts.js';
import { drawPad } from './draw-pad.js';
import { el } from './dom.js';
import { previewCanvas, reduceDrawing, reducePhoto, type Reduced } from './reduce-image.js';

/** Example photos copied from ../shared/data/photos (licences in public/photos/LICENSES.md). */
const EXAMPLES = [
  { file: 'cat-chelsea.png', label: 'Cat' },
  { file: 'rocket.jpg', label: 'Rocket' },
  { file: 'airplane-from-above.jpg', label: 'Airplane' },
  { file: 'ships-nagasaki.jpg', label: 'Ships' },
];

export interface PredictResult {
  source: string;
  labels: string[];
  probs: number[];
  top1: string;
  ms: number;
}

export function predictTab(root: HTMLElement, app: AppState): { last(): Reduced | null } {
  let last: Reduced | null = null;
  const preview = el('canvas', { class: 'pixels', width: 28, height: 28, 'aria-label': 'the input as the model sees it' });
  const chartBox = el('div', { 'data-chart': '' });
  const verdict = el('p', { 'data-verdict': '' }, 'Draw a digit or pick a photo.');
  const modelNote = el('p', { class: 'muted' });
  const shape = () => app.inputShape as [number, number, number];

  async function classify(reduced: Reduced, source: string): Promise<void> {
    last = reduced;
    previewCanvas(reduced, preview);
    if (!app.model) {
      verdict.textContent = 'No model yet: train one on the Train tab, or load one there (model.json + its .bin files).';
      return;
    }
    try {
      const plan = await app.plan();
      const t0 = performance.now();
      const out = await plan.run(reduced.input);
      const ms = performance.now() - t0;
      let probs = Array.from(out.get(app.model.outputs[0])!.data);
      const sum = probs.reduce((a, b) => a + b, 0);
      if (probs.some((p) => p < 0) || Math.abs(sum - 1) > 1e-3) {
        // A model without a softmax at the end: its scores as probabilities.
        const m = Math.max(...probs);
        const e = probs.map((p) => Math.exp(p - m));
        const z = e.reduce((a, b) => a + b, 0);
        probs = e.map((v) => v / z);
      }
      const labels = app.labels;
      const top = argmax(probs);
      chartBox.replaceChildren(barChart(labels, probs));
      // A binary output layer without BatchNorm gives integer logits (sums of +-1 products) far
      // apart, so the softmax puts (nearly) all the probability on one class: say so, not "sure".
      const saturated = probs[top] > 0.999 ? ' The probabilities saturate: this model\'s scores before the softmax are integers far apart (a binary output layer\'s dot products), so 100% is the ranking, not a confidence.' : '';
      verdict.textContent = `${source}: "${labels[top]}" (${(100 * probs[top]).toFixed(1)}%), inference ${ms.toFixed(1)} ms (input upload, GPU, read-back) on ${plan.gpu.describe()}.${saturated}`;
      const result: PredictResult = { source, labels, probs, top1: labels[top], ms };
      root.dataset.result = JSON.stringify(result);
    } catch (err) {
      showBanner({ kind: 'predict-failed', level: 'error', title: 'Classification failed', text: errorText(err) });
    }
  }

  const { pad, clear } = drawPad((p) => {
    const r = reduceDrawing(p, shape(), app.preprocess);
    if (r) void classify(r, 'drawing');
  });

  async function photo(blob: Blob, name: string): Promise<void> {
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(blob);
    } catch (err) {
      showBanner({ kind: 'photo', level: 'warn', title: `${name} is not an image this browser decodes`, text: errorText(err) });
      return;
    }
    await classify(reducePhoto(bitmap, shape(), app.preprocess), name);
    bitmap.close();
  }

  const fileInput = el('input', { type: 'file', accept: 'image/*', name: 'photo' });
  fileInput.addEventListener('change', () => {
    const f = fileInput.files?.[0];
    if (f) void photo(f, f.name);
  });
  const drop = el('div', { class: 'drop' }, 'Drop a photo here, or ', fileInput);
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f) void photo(f, f.name);
  });
  const examples = EXAMPLES.map((x) =>
    el('button', {
      'data-photo': x.file,
      onclick: async () => {
        const res = await fetch(`photos/${x.file}`);
        if (!res.ok) return showBanner({ kind: 'photo', level: 'warn', title: `photos/${x.file}: HTTP ${res.status}`, text: 'The example photos ship in the app build (public/photos).' });
        await photo(await res.blob(), x.file);
      },
    }, x.label),
  );

  const describeModel = () => {
    const [H, W, C] = shape();
    modelNote.textContent = app.model ? `Model "${app.model.name}": input ${H}x${W} ${C === 1 ? 'gray' : 'RGB'}; classes ${app.labels.join(', ')}.` : 'No model yet.';
  };
  app.onModel(describeModel);
  describeModel();

  root.append(
    el('div', { class: 'predict' },
      el('div', { class: 'card' }, el('h2', {}, 'Draw a digit'), pad, el('div', { class: 'row' }, el('button', { name: 'clear', onclick: clear }, 'Clear'), el('span', { class: 'muted' }, 'Classified when you lift the pen.'))),
      el('div', { class: 'card' }, el('h2', {}, 'Or a photo'), drop, el('p', { class: 'muted' }, 'Examples (free of copyright restrictions):'), el('div', { class: 'row' }, ...examples)),
      el('div', { class: 'card' }, el('h2', {}, 'What the model sees, and what it says'), modelNote, preview, verdict, chartBox),
    ),
  );
  return { last: () => last };
}
