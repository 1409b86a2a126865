// The Train tab: pick a model and hyper-parameters, train on the page's GPU with live curves of
// loss and accuracy (training and test), throughput, progress; pause, resume, stop; save the model
// (download) and load one (file picker); restart from the last epoch when the GPU is lost.
import { ModelFormatError, describeOptimizer, type OptimizerRun } from 'webgpu-bnn';
import type { AppState } from './app-state.js';
import { clearBanner, errorText, showBanner } from './banner.js';
import { CATALOG, OPTIMIZERS, defaultLearningRate, type OptimizerKind } from './catalog.js';
import { LineChart, type Series } from './charts.js';
import { el, pct } from './dom.js';
import { FrameMonitor } from './frame-monitor.js';
import { firstSamples, loadMnistInPage } from './mnist-data.js';
import { downloadModel, modelFromFiles } from './model-files.js';
import { TrainingRun, type EpochFigures, type RunSettings, type RunState } from './training-run.js';
import { webGpuHelp } from './gpu-session.js';

/** What a finished (or stopped) run reports, for tests and the epoch script (body[data-train-result]). */
export interface TrainReport {
  state: RunState;
  settings: RunSettings & { trainSamples: number; testSamples: number };
  epochs: EpochFigures[];
  frames: ReturnType<FrameMonitor['snapshot']>;
  adapter: string;
  seconds: number;
}

const COLORS = { train: '#2563eb', test: '#dc2626' };

export function trainTab(root: HTMLElement, app: AppState): { run(): TrainingRun | null; frames: FrameMonitor } {
  const frames = new FrameMonitor();
  let run: TrainingRun | null = null;
  const input = (name: string, value: string | number, attrs: Record<string, string | number> = {}) => el('input', { name, value, ...attrs });
  const modelSelect = el('select', { name: 'model' }, ...CATALOG.map((m) => el('option', { value: m.id, ...(m.unavailable && { disabled: true, title: m.unavailable }) }, m.label)));
  const optimizerSelect = el('select', { name: 'optimizer' }, ...OPTIMIZERS.map((o) => el('option', { value: o }, o)));
  const fields = {
    epochs: input('epochs', 1, { type: 'number', min: 1, max: 100 }),
    batch: input('batch', 300, { type: 'number', min: 1, max: 1000 }),
    lr: input('lr', 0.001, { type: 'number', step: 'any', min: 0 }),
    seed: input('seed', 0, { type: 'number', min: 0 }),
    trainSamples: input('trainSamples', 60000, { type: 'number', min: 1, max: 60000 }),
    testSamples: input('testSamples', 10000, { type: 'number', min: 1, max: 10000 }),
    logEvery: input('logEvery', 20, { type: 'number', min: 1 }),
  };
  const label = (text: string, control: HTMLElement) => el('label', {}, text, control);
  const applyDefaults = () => {
    const entry = CATALOG.find((m) => m.id === modelSelect.value)!;
    fields.batch.value = String(entry.batchSize);
    fields.lr.value = String(defaultLearningRate(entry, optimizerSelect.value as OptimizerKind));
  };
  modelSelect.addEventListener('change', applyDefaults);
  optimizerSelect.addEventListener('change', applyDefaults);

  const buttons = {
    train: el('button', { class: 'primary', name: 'train' }, 'Train'),
    pause: el('button', { name: 'pause', disabled: true }, 'Pause'),
    resume: el('button', { name: 'resume', disabled: true }, 'Resume'),
    stop: el('button', { name: 'stop', disabled: true }, 'Stop'),
    save: el('button', { name: 'save', disabled: true }, 'Save model (TF.js format)'),
  };
  const loadInput = el('input', { type: 'file', name: 'load', multiple: true, accept: '.json,.bin,.h5,.keras,application/json,application/octet-stream' });
  const progress = el('progress', { max: 1, value: 0 });
  const stat = (name: string) => el('span', { 'data-stat': name }, '–');
  const stats = { state: stat('state'), epoch: stat('epoch'), step: stat('step'), loss: stat('loss'), acc: stat('acc'), test: stat('test'), speed: stat('speed'), frame: stat('frame') };
  const statBox = (title: string, v: HTMLElement) => el('div', {}, el('b', {}, title), v);
  const lossChart = new LineChart('Loss (cross-entropy)', 'epoch');
  const accChart = new LineChart('Top-1 accuracy', 'epoch', [0, 1], (v) => `${Math.round(v * 100)}%`);
  const table = el('table', { class: 'summary', 'data-epochs': '' }, el('tr', {}, ...['Epoch', 'Train loss', 'Train top-1', 'Test loss', 'Test top-1', 'Test top-5', 'Seconds', 'Samples/s'].map((h) => el('th', {}, h))));

  root.append(
    el('div', { class: 'card' },
      el('h2', {}, 'Model and hyper-parameters'),
      el('div', { class: 'form' },
        label('Model', modelSelect), label('Optimizer', optimizerSelect), label('Learning rate', fields.lr), label('Epochs', fields.epochs), label('Batch size', fields.batch),
        label('Seed (init and shuffles)', fields.seed), label('Training samples (first N)', fields.trainSamples), label('Test samples (first N)', fields.testSamples), label('Read metrics every N steps', fields.logEvery),
      ),
      el('div', { class: 'row' }, buttons.train, buttons.pause, buttons.resume, buttons.stop, buttons.save, el('label', { class: 'muted' }, 'Load model (model.json + .bin, or .h5 / .keras): ', loadInput)),
    ),
    el('div', { class: 'card' },
      el('h2', {}, 'Progress'),
      progress,
      el('div', { class: 'stats' }, statBox('State', stats.state), statBox('Epoch', stats.epoch), statBox('Step', stats.step), statBox('Training loss (recent)', stats.loss), statBox('Training top-1 (recent)', stats.acc), statBox('Test top-1 (last epoch)', stats.test), statBox('Throughput', stats.speed), statBox('Longest frame while training', stats.frame)),
    ),
    el('div', { class: 'card charts' }, lossChart.svg, accChart.svg),
    el('div', { class: 'card' }, el('h2', {}, 'Epochs'), table),
  );

  // Chart data: training points at fractional epochs (each metrics read), test points per epoch.
  let trainLoss: [number, number][] = [];
  let trainAcc: [number, number][] = [];
  let testLoss: [number, number][] = [];
  let testAcc: [number, number][] = [];
  let epochsTotal = 1;
  const redraw = () => {
    const s = (name: 'train' | 'test', points: [number, number][]): Series => ({ name, color: COLORS[name], points, dots: name === 'test' });
    lossChart.render([s('train', trainLoss), s('test', testLoss)], epochsTotal);
    accChart.render([s('train', trainAcc), s('test', testAcc)], epochsTotal);
  };

  const setButtons = (state: RunState | 'idle') => {
    const active = state === 'running' || state === 'paused';
    buttons.train.disabled = active;
    buttons.pause.disabled = state !== 'running';
    buttons.resume.disabled = state !== 'paused';
    buttons.stop.disabled = !active;
    buttons.save.disabled = !app.model || active;
    stats.state.textContent = state;
    document.body.dataset.trainState = state;
  };
  app.onModel(() => setButtons((run?.state as RunState | undefined) ?? 'idle'));
  setButtons('idle');

  let started = 0;
  const report = (state: RunState) => {
    if (!run) return;
    const r: TrainReport = {
      state,
      settings: { ...run.settings, trainSamples: run.data.train.count, testSamples: run.data.test.count },
      epochs: run.history,
      frames: frames.snapshot(),
      adapter: app.session.gpu?.describe() ?? '',
      seconds: (performance.now() - started) / 1000,
    };
    document.body.dataset.trainResult = JSON.stringify(r);
  };

  const hooks = {
    progress: (p: { epoch: number; step: number; steps: number; loss: number; top1: number; samplesPerSecond: number }) => {
      const x = p.epoch + p.step / p.steps;
      trainLoss.push([x, p.loss]);
      trainAcc.push([x, p.top1]);
      progress.value = x / epochsTotal;
      stats.epoch.textContent = `${p.epoch + 1} / ${epochsTotal}`;
      stats.step.textContent = `${p.step} / ${p.steps}`;
      stats.loss.textContent = p.loss.toFixed(4);
      stats.acc.textContent = pct(p.top1);
      stats.speed.textContent = `${Math.round(p.samplesPerSecond)} samples/s`;
      stats.frame.textContent = `${frames.snapshot().maxMs} ms`;
      document.body.dataset.trainStep = String(p.epoch * p.steps + p.step);
      redraw();
    },
    epoch: (e: EpochFigures, model: import('webgpu-bnn').Model) => {
      testLoss.push([e.epoch + 1, e.test.loss]);
      testAcc.push([e.epoch + 1, e.test.top1]);
      stats.test.textContent = pct(e.test.top1);
      table.append(el('tr', {}, ...[String(e.epoch + 1), e.trainLoss.toFixed(4), pct(e.trainTop1), e.test.loss.toFixed(4), pct(e.test.top1), pct(e.test.top5), e.seconds.toFixed(1), String(Math.round(e.samplesPerSecond))].map((c) => el('td', {}, c))));
      app.setModel(model, `trained here, ${e.epoch + 1} epoch(s), test top-1 ${pct(e.test.top1)}`);
      redraw();
    },
    state: (s: RunState, detail?: unknown) => {
      setButtons(s);
      if (s === 'running' || s === 'paused') return;
      console.timeStamp('bnn-train-end'); // the end of the training window in a performance trace
      frames.stop();
      stats.frame.textContent = `${frames.snapshot().maxMs} ms`;
      if (s === 'stopped' && run) app.setModel(run.model, `trained here, stopped during epoch ${run.checkpoint.epoch + 1}`);
      if (s === 'done') progress.value = 1;
      if (s === 'lost' && run) {
        const from = run.checkpoint.epoch;
        showBanner({
          kind: 'gpu-lost',
          level: 'error',
          title: 'The GPU was lost during training',
          text: `${errorText(detail)}\nThe weights and optimizer state after epoch ${from} are kept in the page. Restarting creates a new GPU device and continues from there${from === 0 ? ' (the start: no epoch had finished)' : ''}.`,
          actions: [{ label: `Restart from epoch ${from + 1}`, run: () => void restart() }],
        });
      }
      if (s === 'failed') showBanner({ kind: 'train-failed', level: 'error', title: 'Training failed', text: errorText(detail) });
      report(s);
    },
  };

  async function restart(): Promise<void> {
    if (!run) return;
    clearBanner('gpu-lost');
    const from = run.checkpoint.epoch;
    trainLoss = trainLoss.filter(([x]) => x <= from);
    trainAcc = trainAcc.filter(([x]) => x <= from);
    redraw();
    try {
      const gpu = await app.session.restart();
      frames.start();
      await run.run(gpu);
    } catch (err) {
      showBanner({ kind: 'webgpu', level: 'error', title: 'No GPU to restart on', text: webGpuHelp(err) });
    }
  }

  // MNIST is fetched and parsed as the page opens, not on the click: the parse's main-thread work
  // would land in the first frames of training. A failure shows on the click (which retries).
  void loadMnistInPage().catch(() => {});

  buttons.train.addEventListener('click', async () => {
    clearBanner();
    const entry = CATALOG.find((m) => m.id === modelSelect.value)!;
    if (!entry.build) return showBanner({ kind: 'train-failed', level: 'warn', title: `${entry.label} cannot be trained here yet`, text: entry.unavailable ?? '' });
    const num = (f: HTMLInputElement, what: string, integer = true) => {
      const v = Number(f.value);
      if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new RangeError(`${what} must be a positive ${integer ? 'integer' : 'number'}, got "${f.value}"`);
      return v;
    };
    let settings: RunSettings;
    let trainCount: number;
    let testCount: number;
    try {
      const optimizer: OptimizerRun = { kind: optimizerSelect.value as OptimizerKind, learningRate: num(fields.lr, 'Learning rate', false), schedule: 'constant', lrScale: 'none' };
      settings = { modelId: entry.id, epochs: num(fields.epochs, 'Epochs'), batchSize: num(fields.batch, 'Batch size'), seed: Number(fields.seed.value) || 0, optimizer, logEvery: num(fields.logEvery, 'Read metrics every') };
      trainCount = num(fields.trainSamples, 'Training samples');
      testCount = num(fields.testSamples, 'Test samples');
    } catch (err) {
      return showBanner({ kind: 'settings', level: 'warn', title: 'Check the settings', text: errorText(err) });
    }
    buttons.train.disabled = true;
    stats.state.textContent = 'loading MNIST (55 MB)…';
    // Frames are watched from the click on, loading included.
    frames.reset();
    started = performance.now();
    frames.start();
    let gpu;
    let data;
    try {
      gpu = await app.session.acquire();
    } catch (err) {
      frames.stop();
      setButtons('idle');
      return showBanner({ kind: 'webgpu', level: 'error', title: 'WebGPU is not available', text: webGpuHelp(err) });
    }
    try {
      const mnist = await loadMnistInPage();
      data = { train: firstSamples(mnist.train, trainCount), test: firstSamples(mnist.test, testCount) };
    } catch (err) {
      frames.stop();
      setButtons('idle');
      return showBanner({ kind: 'data', level: 'error', title: 'MNIST could not be loaded', text: errorText(err) });
    }
    trainLoss = [];
    trainAcc = [];
    testLoss = [];
    testAcc = [];
    epochsTotal = settings.epochs;
    table.querySelectorAll('tr:not(:first-child)').forEach((r) => r.remove());
    delete document.body.dataset.trainResult;
    delete document.body.dataset.trainStep;
    redraw();
    console.info(`training ${entry.id} on ${data.train.count} MNIST images, ${settings.epochs} epoch(s), batch ${settings.batchSize}, ${describeOptimizer(settings.optimizer)}, seed ${settings.seed}, on ${gpu.describe()}`);
    run = new TrainingRun(settings, entry.build(settings.seed), data, hooks);
    await run.run(gpu);
  });
  buttons.pause.addEventListener('click', () => {
    if (!run) return;
    run.pause(); // 'paused' once the step in flight is done (training-run.ts)
    buttons.pause.disabled = true;
    stats.state.textContent = 'pausing';
  });
  buttons.resume.addEventListener('click', () => run?.resume());
  buttons.stop.addEventListener('click', () => run?.stop());
  buttons.save.addEventListener('click', () => {
    if (app.model) downloadModel(app.model);
  });
  loadInput.addEventListener('change', async () => {
    const files = loadInput.files;
    if (!files?.length) return;
    const previous = app.model && { model: app.model, source: app.source, preprocessing: app.preprocessing };
    try {
      const { model, preprocessing } = await modelFromFiles(files);
      app.setModel(model, `loaded from ${Array.from(files, (f) => f.name).join(' + ')}`, preprocessing);
      // Compiled now: a model this engine cannot run is refused here, not at the first prediction.
      await app.plan().catch((err) => {
        if (previous) app.setModel(previous.model, previous.source, previous.preprocessing);
        throw err;
      });
      clearBanner();
      showBanner({ kind: 'model-loaded', level: 'info', title: `Loaded model "${model.name}"`, text: `Input ${app.inputShape.join('x')}, ${model.layers.length} layers. Try it on the Predict tab, or look inside it on the Inspect tab.` });
    } catch (err) {
      const format = err instanceof ModelFormatError;
      showBanner({
        kind: 'model-error',
        level: 'error',
        title: format ? 'This model file cannot be read' : 'This model cannot be run here',
        text: `${errorText(err)}\nExpected: a TF.js Layers model, model.json together with its .bin weight file(s) (as "Save model" writes them, or Keras/Larq through tensorflowjs_converter), or one Keras .h5 or .keras file.`,
      });
    } finally {
      loadInput.value = '';
    }
  });
  redraw();
  app.session.onLost = (info) => {
    if (run && (run.state === 'running' || run.state === 'paused')) {
      run.resume(); // a paused run notices the loss at its next step
      return;
    }
    app.dropPlan();
    showBanner({ kind: 'gpu-lost', level: 'warn', title: 'The GPU was lost', text: `${info.message || info.reason}. A new device is created at the next use.` });
  };
  return { run: () => run, frames };
}
