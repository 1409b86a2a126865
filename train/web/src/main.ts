// The web app's entry: tabs, the GPU (its adapter named in the header, or why there is none), and
// the three tabs wired to one shared state, starting with the shipped model. window.bnnApp exposes
// the state to tests and scripts.
import { AppState } from './app-state.js';
import { showBanner } from './banner.js';
import { byId } from './dom.js';
import { webGpuHelp } from './gpu-session.js';
import { inspectTab } from './inspect-tab.js';
import { predictTab } from './predict-tab.js';
import { loadShippedModel } from './shipped-model.js';
import { trainTab } from './train-tab.js';

const app = new AppState();
const train = trainTab(byId('tab-train'), app);
const predict = predictTab(byId('tab-predict'), app);
const inspect = inspectTab(byId('tab-inspect'), app, predict.last);

function select(tab: string): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('#tabs button')) b.setAttribute('aria-selected', String(b.dataset.tab === tab));
  for (const s of document.querySelectorAll<HTMLElement>('main section')) s.hidden = s.dataset.panel !== tab;
  document.body.dataset.tab = tab;
  if (tab === 'inspect') void inspect.render();
}
for (const b of document.querySelectorAll<HTMLButtonElement>('#tabs button')) b.addEventListener('click', () => select(b.dataset.tab!));
select('train');

// Predict and Inspect start with the shipped model; training or loading one replaces it.
void loadShippedModel(app);

app.session.onReady = (gpu) => {
  byId('adapter').textContent = `WebGPU: ${gpu.describe()}`;
  document.body.dataset.adapter = gpu.describe();
};
app.session.acquire().then(
  () => (document.body.dataset.ready = 'true'),
  (err) => {
    byId('adapter').textContent = 'WebGPU: not available';
    document.body.dataset.ready = 'no-webgpu';
    showBanner({ kind: 'webgpu', level: 'error', title: 'WebGPU is not available in this browser', text: webGpuHelp(err) });
  },
);

declare global {
  interface Window {
    bnnApp: { app: AppState; train: typeof train; select: typeof select };
  }
}
window.bnnApp = { app, train, select };
