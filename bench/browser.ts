// Runs a benchmark in headless Chromium through puppeteer-core: serves the built library and a
// page on 127.0.0.1, calls the same benchmark code as in Node, and returns its report with the
// browser's version added.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { launchChromium, startStaticServer } from './chromium.js';
import type { SuiteName, SuiteOptions, SuiteReport } from './suites.js';

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>webgpu-bnn benchmark</title>
<script type="importmap">{ "imports": { "wgsl_reflect/": "/wgsl_reflect/" } }</script>
<script type="module" src="/dist/bench/page.js"></script>
<body>webgpu-bnn benchmark</body>
`;

export async function benchInBrowser(
  name: SuiteName,
  options: Omit<SuiteOptions, 'onProgress'>,
  onProgress: (line: string) => void = () => {},
): Promise<SuiteReport & { browser: string }> {
  const dist = join(dirname(fileURLToPath(import.meta.url)), '..'); // dist/ (this file is dist/bench/browser.js)
  const wgslReflect = dirname(createRequire(import.meta.url).resolve('wgsl_reflect/package.json'));
  const site = mkdtempSync(join(tmpdir(), 'bnn-bench-page-'));
  writeFileSync(join(site, 'index.html'), PAGE);
  const server = await startStaticServer(site, { '/dist/': dist, '/wgsl_reflect/': wgslReflect });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on('pageerror', (err) => onProgress(`page error: ${String(err)}`));
    await page.exposeFunction('bnnProgress', (line: string) => onProgress(line));
    await page.goto(server.url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="1"]', { timeout: 30_000 });
    page.setDefaultTimeout(0);
    const report = (await page.evaluate((n, o) => window.bnnRunBench(n, o), name, options as SuiteOptions)) as SuiteReport;
    const version = await browser.version();
    return { ...report, ...('engine' in report ? { engine: `${version} (${report.engine})` } : {}), browser: version };
  } finally {
    await browser.close();
    await server.close();
    rmSync(site, { recursive: true, force: true });
  }
}
