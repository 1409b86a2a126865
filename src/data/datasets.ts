// The image data sets training and evaluation know by name (MNIST, CIFAR-10): their classes,
// sample shape and loader, and a model's input preprocessing (which data set, which
// normalization), saved beside the model as preprocessing.json so eval and predict feed a
// trained model what it was trained on.
import { CIFAR10_CLASSES } from './cifar10.js';
import { loadCifar10 } from './cifar10-files.js';
import type { LabeledSamples } from './batches.js';
import { loadMnist, preprocessMnist } from './mnist.js';
import { DataFormatError } from './idx.js';
import { readTextBounded } from '../io/read-bounded.js';
import { writeFileAtomic } from '../io/write-atomic.js';
import { show } from '../model/error-text.js';
import { CIFAR10_NORMALIZATION, SYMMETRIC_NORMALIZATION, normalizeImages, type Normalization } from '../ops/augment.js';

export type DatasetName = 'mnist' | 'cifar10';

export interface LoadOptions {
  limit?: number;
  /** CIFAR-10's data directory (cifar10-files.ts). */
  dataDir?: string;
  log?: (line: string) => void;
}

export interface Dataset {
  name: DatasetName;
  title: string;
  classes: readonly string[];
  /** One sample: [height, width, channels], u8 pixels NHWC. */
  shape: readonly [number, number, number];
  load(split: 'train' | 'test', options?: LoadOptions): Promise<LabeledSamples>;
}

export const DATASETS: Record<DatasetName, Dataset> = {
  mnist: {
    name: 'mnist',
    title: 'MNIST',
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    shape: [28, 28, 1],
    load: (split, o = {}) => loadMnist({ split, limit: o.limit }),
  },
  cifar10: {
    name: 'cifar10',
    title: 'CIFAR-10',
    classes: CIFAR10_CLASSES,
    shape: [32, 32, 3],
    load: (split, o = {}) => loadCifar10({ split, limit: o.limit, dataDir: o.dataDir, log: o.log }),
  },
};

export function isDatasetName(name: unknown): name is DatasetName {
  return name === 'mnist' || name === 'cifar10';
}

/** How a model's input is made from a sample's pixels. */
export interface Preprocessing {
  dataset: DatasetName;
  /** (pixel * scale - mean) / std per channel; absent: MNIST's pixel/127.5 - 1 (preprocessMnist). */
  normalization?: Normalization;
}

/** The CPU preprocessing (evaluation, predict): pixels to model inputs. */
export function preprocessor(p: Preprocessing): (pixels: Uint8Array, out: Float32Array) => Float32Array {
  const { normalization } = p;
  if (!normalization) return preprocessMnist;
  const channels = DATASETS[p.dataset].shape[2];
  return (pixels, out) => normalizeImages(pixels, channels, normalization, out);
}

export const PREPROCESSING_FILE = 'preprocessing.json';

/** Writes DIR/preprocessing.json (beside model.json), whole or not at all. Node only. */
export async function savePreprocessing(dir: string, p: Preprocessing): Promise<void> {
  const path = await import('node:path');
  await writeFileAtomic(path.join(dir, PREPROCESSING_FILE), JSON.stringify({ ...p, classes: DATASETS[p.dataset].classes }, null, 2) + '\n');
}

/**
 * A preprocessing.json's text checked key by key: {dataset, normalization?: {scale, mean, std}},
 * numbers finite, one mean and std per channel of the data set (or one for all), std > 0.
 * Anything else is a DataFormatError naming the file and the key.
 */
export function readPreprocessing(file: string, text: string): Preprocessing {
  const fix = `write {"dataset": "mnist"} or {"dataset": "cifar10", "normalization": {"scale": 0.00392, "mean": [m, m, m], "std": [s, s, s]}}, or delete ${PREPROCESSING_FILE} to use the defaults`;
  const bad = (problem: string): never => {
    throw new DataFormatError(file, problem, fix);
  };
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch (e) {
    return bad(`not valid JSON (${(e as Error).message.slice(0, 200)})`);
  }
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return bad(`expected an object, got ${show(p)}`);
  const o = p as Record<string, unknown>;
  if (!isDatasetName(o.dataset)) return bad(`key "dataset": expected "mnist" or "cifar10", got ${show(o.dataset)}`);
  if (o.normalization === undefined) return { dataset: o.dataset };
  const n = o.normalization as Record<string, unknown>;
  if (n === null || typeof n !== 'object' || Array.isArray(n)) return bad(`key "normalization": expected {scale, mean, std}, got ${show(n)}`);
  const channels = DATASETS[o.dataset].shape[2];
  const number = (v: unknown, key: string, positive: boolean): number =>
    typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0) ? v : bad(`key "${key}": expected a finite number${positive ? ' > 0' : ''}, got ${show(v)}`);
  const list = (v: unknown, key: string, positive: boolean): number[] => {
    if (!Array.isArray(v) || (v.length !== 1 && v.length !== channels)) return bad(`key "${key}": expected a list of 1 or ${channels} numbers, got ${show(v)}`);
    return v.map((x, i) => number(x, `${key}[${i}]`, positive));
  };
  return { dataset: o.dataset, normalization: { scale: number(n.scale, 'normalization.scale', true), mean: list(n.mean, 'normalization.mean', false), std: list(n.std, 'normalization.std', true) } };
}

/**
 * The preprocessing of the model at `modelPath` (model.json or its directory): its
 * preprocessing.json, or, for models saved without one, a guess from the input shape (28x28x1:
 * MNIST's; 32x32x3: CIFAR-10 with its usual statistics, or 2x/255 - 1 for FINN's CNV), said in `guessed`.
 */
export async function loadPreprocessing(modelPath: string, input: { shape: readonly number[]; modelName: string }): Promise<Preprocessing & { guessed?: string }> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const stat = await fs.stat(modelPath).catch(() => null);
  const dir = stat?.isDirectory() ? modelPath : path.dirname(modelPath);
  const file = path.join(dir, PREPROCESSING_FILE);
  const exists = await fs.lstat(file).catch(() => null);
  if (exists) return readPreprocessing(file, await readTextBounded(file, { maxBytes: 2 ** 20, within: dir, error: (f, m) => new DataFormatError(f, m.slice(f.length + 2), 'it should be the preprocessing.json that bnn train wrote') }));
  const guess = guessPreprocessing(input);
  if (guess) return guess;
  throw new DataFormatError(modelPath, `no ${PREPROCESSING_FILE} beside the model and its input [${input.shape.join(', ')}] is neither MNIST's 28x28x1 nor CIFAR-10's 32x32x3`, `write a ${PREPROCESSING_FILE} beside it`);
}

/**
 * For a model saved without preprocessing.json, a guess from its input shape (28x28x1: MNIST's;
 * 32x32x3: CIFAR-10 with its usual statistics, or 2x/255 - 1 for FINN's CNV), said in `guessed`;
 * undefined for other shapes. (The web app makes the same guess for a model picked without one.)
 */
export function guessPreprocessing(input: { shape: readonly number[]; modelName: string }): (Preprocessing & { guessed: string }) | undefined {
  const shape = input.shape.join('x');
  if (shape === '28x28x1' || shape === '784') return { dataset: 'mnist', guessed: `no ${PREPROCESSING_FILE} beside the model: its input ${shape} read as MNIST (pixel/127.5 - 1)` };
  if (shape === '32x32x3') {
    const cnv = /cnv/i.test(input.modelName);
    return { dataset: 'cifar10', normalization: cnv ? SYMMETRIC_NORMALIZATION : CIFAR10_NORMALIZATION, guessed: `no ${PREPROCESSING_FILE} beside the model: its input 32x32x3 read as CIFAR-10, ${cnv ? '2x/255 - 1 (FINN CNV)' : "CIFAR-10's mean/std"}` };
  }
  return undefined;
}
