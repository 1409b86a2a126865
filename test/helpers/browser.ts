// Headless Chromium for browser tests: the benchmarks' own helpers (bench/chromium.ts), re-exported
// so tests and benchmarks launch the browser and serve pages one way.
export { CHROMIUM_ARGS, CHROMIUM_PATH, launchChromium, startStaticServer, type Mounts, type StaticServer } from '../../bench/chromium.js';
