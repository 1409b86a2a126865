// Headless Chromium with WebGPU, for the browser benchmarks and the browser tests: a static file
// server on 127.0.0.1 (navigator.gpu exists only in a secure context, and http://127.0.0.1 is one)
// and a puppeteer-core launch of the system Chromium with the flags that give WebGPU, also on
// SwiftShader. puppeteer-core is an optional peer dependency, loaded only here.
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import type { Browser } from 'puppeteer-core';

/** Debian's `chromium` package; override with CHROMIUM_PATH. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
] as const;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.wgsl': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.bin': 'application/octet-stream',
};

/** URL path prefixes (ending in '/') mapped to folders; '/' serves `rootDir` itself. */
export type Mounts = Readonly<Record<string, string>>;

export interface StaticServer {
  /** Base URL with a trailing slash, e.g. http://127.0.0.1:40123/ */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the files under `rootDir` (and under each of `mounts`) on 127.0.0.1 at a random free
 * port. GET/HEAD only; a directory serves its index.html; nothing outside the served folders is
 * reachable. No caching, no listing.
 */
export async function startStaticServer(rootDir: string, mounts: Mounts = {}): Promise<StaticServer> {
  const roots = Object.entries({ ...mounts, '/': rootDir })
    .map(([prefix, dir]) => ({ prefix, dir: resolve(dir) }))
    .sort((x, y) => y.prefix.length - x.prefix.length);
  const send = (res: ServerResponse, code: number, text: string) => {
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end(text);
  };
  const server = createServer(async (req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed');
      const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
      const { prefix, dir: root } = roots.find((r) => pathname.startsWith(r.prefix))!;
      let file = resolve(root, '.' + pathname.slice(prefix.length - 1));
      if (file !== root && !file.startsWith(root + sep)) return send(res, 403, 'forbidden');
      let info = await stat(file).catch(() => null);
      if (info?.isDirectory()) {
        file = join(file, 'index.html');
        info = await stat(file).catch(() => null);
      }
      if (!info?.isFile()) return send(res, 404, `not found: ${pathname}`);
      res.writeHead(200, {
        'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'content-length': info.size,
        'cache-control': 'no-store',
      });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file)
        .on('error', () => res.destroy())
        .pipe(res);
    } catch (err) {
      send(res, 500, String(err));
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('static server: no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}/`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections(); // keep-alive sockets would hold close() open
        server.close(() => ok());
      }),
  };
}

/**
 * Launches headless Chromium (puppeteer-core, system binary) with WebGPU enabled and a fresh
 * temporary profile, removed when the browser process exits. Close it with `browser.close()`.
 */
export async function launchChromium(options: { extraArgs?: string[] } = {}): Promise<Browser> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'bnn-chromium-profile-'));
  const removeProfile = () => {
    try {
      rmSync(userDataDir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // a leftover temp profile is not worth failing a run for
    }
  };
  let browser: Browser;
  try {
    const puppeteer = await loadPuppeteer();
    browser = await puppeteer.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      userDataDir,
      args: [...CHROMIUM_ARGS, ...(options.extraArgs ?? [])],
    });
  } catch (err) {
    removeProfile();
    throw new Error(
      `could not launch Chromium at ${CHROMIUM_PATH}: ${(err as Error).message}. ` +
        'Install it with `apt-get install -y chromium` (Debian) or set CHROMIUM_PATH.',
    );
  }
  browser.process()?.once('exit', removeProfile);
  return browser;
}

async function loadPuppeteer(): Promise<{ launch: typeof import('puppeteer-core').launch }> {
  try {
    return await import('puppeteer-core');
  } catch {
    throw new Error('browser runs need the optional dependency puppeteer-core: npm install puppeteer-core');
  }
}
