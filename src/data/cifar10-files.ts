// Where CIFAR-10 comes from on disk (Node), first found first used, under the data directory
// (--data-dir, $BNN_DATA_DIR, or ./.data; gitignored):
//   1. <data>/cifar10/cifar-10-batches-bin/   the official binary batches (what users download);
//   2. <data>/cifar10/cifar10-jpeg-<split>.bin the JPEG archive decoded once, as a binary batch;
//   3. cifar10-jpeg.tar.gz ($BNN_CIFAR10_ARCHIVE, or ../shared/data/cifar10/ beside the project):
//      unpacked to <data>/cifar10/cifar10-jpeg/<split>/<class>/*.jpg, decoded, cached as 2.
// The cache interleaves the classes (sample k is of class k mod 10), as the official batches mix
// them, so that --limit N takes N/10 images of each class.
import { CIFAR10_CLASSES, CIFAR10_FILES, CIFAR10_SIDE, concatCifar, readCifarBatch, writeCifarBatch, type Cifar10Data, type Cifar10Split } from './cifar10.js';
import { DataFormatError } from './idx.js';
import { readImageFolder } from './image-folder.js';
import { readTar } from './tar.js';
import { packageRoot } from '../io/package-root.js';

export const CIFAR10_ARCHIVE = 'cifar10-jpeg.tar.gz';

export interface LoadCifar10Options {
  split: Cifar10Split;
  /** Keep the first `limit` samples. */
  limit?: number;
  /** Default $BNN_DATA_DIR or ./.data (relative to the working directory). */
  dataDir?: string;
  /** The JPEG archive; default $BNN_CIFAR10_ARCHIVE or ../shared/data/cifar10/cifar10-jpeg.tar.gz beside the working directory or the package. */
  archive?: string;
  /** Progress lines (what is read, unpacked, decoded, and how long it took). */
  log?: (line: string) => void;
}

export interface Cifar10Loaded extends Cifar10Data {
  /** The file(s) the samples came from. */
  source: string;
}

export async function defaultDataDir(): Promise<string> {
  const path = await import('node:path');
  return path.resolve(process.env.BNN_DATA_DIR ?? '.data');
}

/** The places the JPEG archive is looked for, in order. */
export async function archiveCandidates(explicit?: string): Promise<string[]> {
  const path = await import('node:path');
  if (explicit) return [path.resolve(explicit)];
  if (process.env.BNN_CIFAR10_ARCHIVE) return [path.resolve(process.env.BNN_CIFAR10_ARCHIVE)];
  const roots = [process.cwd(), await packageRoot()].filter((r): r is string => r !== null);
  return [...new Set(roots.map((r) => path.resolve(r, '..', 'shared', 'data', 'cifar10', CIFAR10_ARCHIVE)))];
}

/** One CIFAR-10 split, NHWC u8, from the first source found (see the top of this file). */
export async function loadCifar10(options: LoadCifar10Options): Promise<Cifar10Loaded> {
  const { split, limit, log = () => {} } = options;
  if (split !== 'train' && split !== 'test') throw new RangeError(`CIFAR-10 split must be 'train' or 'test', got ${String(split)}`);
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const dir = path.join(options.dataDir ? path.resolve(options.dataDir) : await defaultDataDir(), 'cifar10');
  const exists = (p: string) => fs.stat(p).then(() => true, () => false);
  const t0 = performance.now();
  const seconds = () => ((performance.now() - t0) / 1000).toFixed(2);

  const official = path.join(dir, 'cifar-10-batches-bin');
  const files = CIFAR10_FILES[split].files.map((f) => path.join(official, f));
  if ((await Promise.all(files.map(exists))).every(Boolean)) {
    const parts = await Promise.all(files.map(async (f) => readCifarBatch(await fs.readFile(f), f)));
    const data = concatCifar(parts, limit);
    log(`CIFAR-10 ${split}: ${parts.reduce((n, p) => n + p.count, 0)} images from ${official} in ${seconds()} s`);
    return { ...data, source: official };
  }

  const cache = path.join(dir, `cifar10-jpeg-${split}.bin`);
  if (!(await exists(cache))) await decodeArchive(dir, split, cache, options.archive, log);
  const t1 = performance.now();
  const full = readCifarBatch(await fs.readFile(cache), cache);
  log(`CIFAR-10 ${split}: ${full.count} images from ${cache} in ${((performance.now() - t1) / 1000).toFixed(2)} s`);
  return { ...concatCifar([full], limit), source: cache };
}

/** Unpacks the archive (once) and decodes one split's JPEGs into the cache file. */
async function decodeArchive(dir: string, split: Cifar10Split, cache: string, explicit: string | undefined, log: (line: string) => void): Promise<void> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const exists = (p: string) => fs.stat(p).then(() => true, () => false);
  const unpacked = path.join(dir, 'cifar10-jpeg');
  if (!(await exists(path.join(unpacked, split)))) {
    const candidates = await archiveCandidates(explicit);
    const archive = (await Promise.all(candidates.map(async (c) => ((await exists(c)) ? c : null)))).find((c) => c !== null);
    if (!archive) {
      throw new DataFormatError(
        'CIFAR-10',
        `not found: no official batches in ${path.join(dir, 'cifar-10-batches-bin')}, no decoded cache ${cache}, no ${CIFAR10_ARCHIVE} at ${candidates.join(' or ')}`,
        `Download the binary version (cifar-10-binary.tar.gz, 163 MB) from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it there: mkdir -p ${dir} && tar xzf cifar-10-binary.tar.gz -C ${dir}; or give the JPEG archive with $BNN_CIFAR10_ARCHIVE`,
      );
    }
    const t0 = performance.now();
    const { gunzipSync } = await import('node:zlib');
    const tmp = `${unpacked}.tmp-${process.pid}`;
    await removeAbandoned(dir, 'cifar10-jpeg.tmp-');
    await fs.rm(tmp, { recursive: true, force: true });
    let n = 0;
    for (const e of readTar(gunzipSync(await fs.readFile(archive)), archive)) {
      const target = path.join(tmp, ...e.path.split('/'));
      if (e.type === 'directory') await fs.mkdir(target, { recursive: true });
      else {
        await fs.mkdir(path.dirname(target), { recursive: true });
        await fs.writeFile(target, e.data);
        n++;
      }
    }
    // Another process may have unpacked it meanwhile: keep theirs.
    await fs.rename(tmp, unpacked).catch(() => fs.rm(tmp, { recursive: true, force: true }));
    log(`unpacked ${n} files of ${archive} into ${unpacked} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const t0 = performance.now();
  const folder = await readImageFolder(path.join(unpacked, split), {
    height: CIFAR10_SIDE,
    width: CIFAR10_SIDE,
    classes: CIFAR10_CLASSES,
    onProgress: (done, total) => done % 10000 === 0 && log(`decoding ${split}: ${done}/${total}`),
  });
  const data = interleaveClasses(folder);
  const tmp = `${cache}.tmp-${process.pid}`;
  await fs.writeFile(tmp, writeCifarBatch(data));
  await fs.rename(tmp, cache);
  log(`decoded ${data.count} JPEGs (${split}) in ${((performance.now() - t0) / 1000).toFixed(1)} s; cached as ${cache}`);
}

/** Samples reordered round-robin over the classes (class 0's first, class 1's first, ..., class 0's second, ...). */
export function interleaveClasses(d: Cifar10Data): Cifar10Data {
  const byClass: number[][] = [];
  for (let i = 0; i < d.count; i++) (byClass[d.labels[i]] ??= []).push(i);
  const order: number[] = [];
  const rounds = Math.max(...byClass.map((c) => c?.length ?? 0));
  for (let r = 0; r < rounds; r++) for (const c of byClass) if (c && r < c.length) order.push(c[r]);
  const per = d.images.length / d.count;
  const images = new Uint8Array(d.images.length);
  order.forEach((i, k) => images.set(d.images.subarray(i * per, (i + 1) * per), k * per));
  return { images, labels: Uint8Array.from(order, (i) => d.labels[i]), count: d.count };
}

/**
 * Removes `prefix<pid>` entries of `dir` left by a process that no longer runs (an unpacking
 * interrupted half way: 60,000 files each); another live process's are left alone.
 */
async function removeAbandoned(dir: string, prefix: string): Promise<void> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const pid = Number(name.slice(prefix.length));
    if (!name.startsWith(prefix) || !Number.isInteger(pid) || pid <= 0 || pid === process.pid || isRunning(pid)) continue;
    await fs.rm(path.join(dir, name), { recursive: true, force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, another user's
  }
}
