// The benchmark page's module (dist/bench/page.js): the same benchmark code as in Node, on the
// page's navigator.gpu. bench/browser.ts serves it and calls window.bnnRunBench through puppeteer.
import { Gpu } from '../src/gpu/context.js';
import { runAll, type RunAllOptions } from './run-all.js';
import { SUITES, isSuiteName, type SuiteOptions } from './suites.js';

declare global {
  interface Window {
    bnnRunBench(name: string, options: SuiteOptions): Promise<unknown>;
    bnnRunAll(options: RunAllOptions): Promise<unknown>;
    bnnProgress?(line: string): void;
  }
}

window.bnnRunBench = async (name, options) => {
  const gpu = await Gpu.create({ log: (line) => window.bnnProgress?.(line) });
  try {
    if (!isSuiteName(name)) throw new Error(`no browser benchmark named '${name}' (there are: ${Object.keys(SUITES).join(', ')})`);
    return await SUITES[name].run(gpu, { ...options, onProgress: (line) => window.bnnProgress?.(line) });
  } finally {
    gpu.destroy();
  }
};
window.bnnRunAll = async (options) => {
  const gpu = await Gpu.create({ log: (line) => window.bnnProgress?.(line) });
  try {
    return await runAll(gpu, options, 'chromium', navigator.userAgent, (line) => window.bnnProgress?.(line));
  } finally {
    gpu.destroy();
  }
};
document.body.dataset.ready = '1';
