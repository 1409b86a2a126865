// A page that runs the library's source in headless Chromium: the test's script (an
// `async function main()` importing from 'webgpu-bnn') bundled by Vite with 'webgpu-bnn' pointing
// at src/index.ts, served, opened, and main()'s JSON result read back from the page.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'puppeteer-core';
import { launchChromium, startStaticServer, type StaticServer } from './browser.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** What the page does with main()'s promise: its value, or the error with its stack, as JSON on the body. */
const REPORT = `
main().then(
  (r) => (document.body.dataset.result = JSON.stringify(r)),
  (e) => (document.body.dataset.result = JSON.stringify({ error: String(e && e.stack || e) })),
);
`;

export interface LibraryPage {
  /** Opens the page and waits for main()'s result (`{ error }` when it threw). */
  result<T>(timeoutMs?: number): Promise<T>;
  /** The page's console and errors, for a failing test's message. */
  readonly log: string[];
  close(): Promise<void>;
}

/**
 * Bundles `script` into a page titled `title` and serves it; `mounts` serves more directories
 * (URL prefix -> directory), e.g. test fixtures.
 */
export async function libraryPage(script: string, options: { title: string; mounts?: Record<string, string> }): Promise<LibraryPage> {
  const work = mkdtempSync(join(tmpdir(), 'bnn-page-'));
  const log: string[] = [];
  let server: StaticServer | undefined;
  let browser: Browser | undefined;
  const close = async () => {
    if (log.length) console.log(`page log:\n${log.slice(-20).join('\n')}`);
    await browser?.close();
    await server?.close();
    rmSync(work, { recursive: true, force: true, maxRetries: 3 });
  };
  try {
    writeFileSync(join(work, 'index.html'), `<!doctype html><meta charset="utf-8"><title>${options.title}</title><body><script type="module" src="./main.ts"></script></body>`);
    writeFileSync(join(work, 'main.ts'), script + REPORT);
    const { build } = await import('vite');
    await build({
      root: work,
      base: './',
      configFile: false,
      logLevel: 'warn',
      resolve: {
        alias: [
          { find: 'webgpu-bnn', replacement: join(REPO, 'src/index.ts') },
          { find: /^node:(fs|fs\/promises|path|module)$/, replacement: join(REPO, 'train/web/src/node-stub.ts') },
        ],
      },
      build: { outDir: join(work, 'dist'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4000 },
    });
    server = await startStaticServer(join(work, 'dist'), options.mounts ?? {});
    browser = await launchChromium();
  } catch (e) {
    await close();
    throw e;
  }
  return {
    log,
    close,
    async result<T>(timeoutMs = 150_000): Promise<T> {
      const page = await browser!.newPage();
      page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => log.push(`pageerror: ${(e as Error).message}`));
      await page.goto(server!.url, { waitUntil: 'load' });
      await page.waitForFunction(() => document.body?.dataset.result !== undefined, { timeout: timeoutMs, polling: 100 });
      return JSON.parse((await page.evaluate(() => document.body.dataset.result)) as string) as T;
    },
  };
}
