// loadModel(url) against hostile servers on 127.0.0.1: shards and redirects stay on model.json's
// origin unless allowed (a second server must receive nothing), a redirect to file:// is named as
// such, endless bodies and gzip bombs stop at the byte cap, a silent server times out, and every
// failure is a ModelFetchError naming the URL.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadModel, saveModel } from '../src/io/model-files.js';
import { ModelFetchError } from '../src/io/model-url.js';
import { ModelFormatError } from '../src/model/layer-config.js';
import { mnistMlp } from '../src/zoo/mnist-mlp.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  url: string;
  requests: string[];
  handle: Handler;
  server: Server;
}

async function startServer(): Promise<TestServer> {
  const s: TestServer = { url: '', requests: [], handle: (_q, r) => r.end(), server: createServer((req, res) => {
    s.requests.push(req.url ?? '');
    s.handle(req, res);
  }) };
  await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
  const addr = s.server.address() as { port: number };
  s.url = `http://127.0.0.1:${addr.port}`;
  return s;
}

let a: TestServer;
let b: TestServer;
let dir: string;
let modelJson: Record<string, any>;
let shard: Buffer;
const SHARD = 'group1-shard1of1.bin';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bnn-url-'));
  await saveModel(mnistMlp({ hidden: [8], seed: 4 }), dir);
  modelJson = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  shard = readFileSync(join(dir, SHARD));
  [a, b] = await Promise.all([startServer(), startServer()]);
});
afterAll(async () => {
  for (const s of [a, b]) {
    s.server.closeAllConnections();
    await new Promise((r) => s.server.close(r));
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Server A serves model.json (with `paths` as its shard paths) and hands shard requests to `onShard`. */
function serveModel(onShard: Handler, paths = [SHARD]): void {
  a.requests.length = 0;
  b.requests.length = 0;
  const json = JSON.stringify({ ...modelJson, weightsManifest: [{ ...modelJson.weightsManifest[0], paths }] });
  a.handle = (req, res) => {
    if (req.url === '/m/model.json') res.end(json);
    else onShard(req, res);
  };
  b.handle = (_req, res) => res.end(shard);
}

const failure = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as Error);

describe('loadModel(url)', () => {
  test('loads a model whose shards sit beside model.json on the same server', async () => {
    serveModel((_req, res) => res.end(shard));
    const m = await loadModel(`${a.url}/m/model.json`);
    expect(m.name).toBe('mnist_mlp');
    expect(a.requests).toEqual(['/m/model.json', `/m/${SHARD}`]);
  });

  test('a shard on another origin, or a redirect to one, is refused before it is requested; allowedOrigins allows it', async () => {
    serveModel((_req, res) => res.end(shard), [`${b.url}/secret.bin`]);
    const err = await failure(loadModel(`${a.url}/m/model.json`));
    expect(err).toBeInstanceOf(ModelFetchError);
    expect(err!.message).toMatch(new RegExp(`weight shard "${b.url}/secret.bin" at ${b.url}/secret.bin: is on another origin \\(${b.url}\\), which is not fetched; pass allowedOrigins`));
    expect(b.requests).toEqual([]);

    serveModel((_req, res) => res.writeHead(302, { location: `${b.url}/secret.bin` }).end());
    const redirected = await failure(loadModel(`${a.url}/m/model.json`));
    expect(redirected).toBeInstanceOf(ModelFetchError);
    expect(redirected!.message).toMatch(new RegExp(`redirects to ${b.url}/secret.bin, another origin`));
    expect(b.requests).toEqual([]);

    expect((await loadModel(`${a.url}/m/model.json`, { allowedOrigins: [b.url] })).name).toBe('mnist_mlp');
    expect(b.requests).toEqual(['/secret.bin']);
  });

  test('a redirect within the origin is followed; a redirect to file:// is named as such', async () => {
    serveModel((req, res) => (req.url === `/m/${SHARD}` ? res.writeHead(301, { location: '/elsewhere.bin' }).end() : res.end(shard)));
    expect((await loadModel(`${a.url}/m/model.json`)).name).toBe('mnist_mlp');
    expect(a.requests).toEqual(['/m/model.json', `/m/${SHARD}`, '/elsewhere.bin']);
    serveModel((_req, res) => res.writeHead(302, { location: 'file:///etc/passwd' }).end());
    const err = await failure(loadModel(`${a.url}/m/model.json`));
    expect(err).toBeInstanceOf(ModelFetchError);
    expect(err!.message).toMatch(/redirects to file:\/\/\/etc\/passwd, a file:\/\/ URL, which is not fetched/);
  });

  test('an endless shard and a gzip bomb stop at the bytes the manifest allows', async () => {
    serveModel((_req, res) => {
      const chunk = Buffer.alloc(1 << 16);
      const pump = () => {
        while (res.write(chunk));
        res.once('drain', pump);
      };
      res.on('error', () => {});
      pump();
    });
    const endless = await failure(loadModel(`${a.url}/m/model.json`));
    expect(endless).toBeInstanceOf(ModelFetchError);
    expect(endless!.message).toMatch(new RegExp(`more than the ${shard.length} bytes allowed \\(counted as the body arrives, decompressed\\)`));

    const bomb = gzipSync(Buffer.alloc(200 * 2 ** 20)); // 200 MB in about 200 KB
    serveModel((_req, res) => res.writeHead(200, { 'content-encoding': 'gzip' }).end(bomb));
    const before = process.memoryUsage().rss;
    const err = await failure(loadModel(`${a.url}/m/model.json`));
    expect(err).toBeInstanceOf(ModelFetchError);
    expect(err!.message).toMatch(/more than the \d+ bytes allowed/);
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 2 ** 20);

    serveModel((_req, res) => res.end(shard));
    await expect(loadModel(`${a.url}/m/model.json`, { maxJsonBytes: 100 })).rejects.toThrow(/model\.json at .*: more than the 100 bytes allowed|\d+ bytes \(Content-Length\), more than the 100 allowed/);
  });

  test('a silent server times out; HTTP errors, refused connections and bad JSON are typed errors naming the URL', async () => {
    serveModel(() => {}); // never answers the shard request
    const t0 = performance.now();
    const silent = await failure(loadModel(`${a.url}/m/model.json`, { timeoutMs: 300 }));
    expect(silent).toBeInstanceOf(ModelFetchError);
    expect(silent!.message).toMatch(new RegExp(`weight shard "${SHARD}" at ${a.url}/m/${SHARD}: no complete answer within 300 ms`));
    expect(performance.now() - t0).toBeLessThan(5000);

    serveModel((_req, res) => res.writeHead(404).end());
    await expect(loadModel(`${a.url}/m/model.json`)).rejects.toThrow(/weight shard .* HTTP 404/);
    await expect(loadModel(`${a.url}/nothing/model.json`)).rejects.toThrow(ModelFetchError);
    const refused = await failure(loadModel('http://127.0.0.1:1/model.json'));
    expect(refused).toBeInstanceOf(ModelFetchError);
    expect((refused as ModelFetchError).url).toBe('http://127.0.0.1:1/model.json');
    expect(refused!.message).toMatch(/model\.json at http:\/\/127\.0\.0\.1:1\/model\.json: the request failed/);
    a.handle = (_req, res) => res.end('{"not json');
    const bad = await failure(loadModel(`${a.url}/m/model.json`));
    expect(bad).toBeInstanceOf(ModelFormatError);
    expect(bad!.message).toMatch(/model\.json at .*: not valid JSON/);
  });
});
