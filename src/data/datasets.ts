// The image data sets training and evaluation know by name (MNIST, CIFAR-10): their classes,
// sample shape and loader, and a model's input preprocessing (which data set, which
// normalization), saved beside the model as preprocessing.json so eval and predict feed a
// trained model what it was trained on.
import { CIFAR10_CLASSES } from './cifar10.js';
import { loadCifar10 } from './cifar10-files.js';
import type { LabeledSamples } from './batches.js';
import { loadMnist, preprocessMnist } from './mnist.js';
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

/** Writes DIR/preprocessing.json (beside model.json). Node only. */
export async function savePreprocessing(dir: string, p: Preprocessing): Promise<void> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, PREPROCESSING_FILE), JSON.stringify({ ...p, classes: DATASETS[p.dataset].classes }, null, 2) + '\n');
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
  const text = await fs.readFile(file, 'utf8').catch(() => null);
  if (text !== null) {
    const p = JSON.parse(text) as Preprocessing;
    if (!isDatasetName(p.dataset)) throw new Error(`${file}: dataset must be mnist or cifar10, got ${JSON.stringify(p.dataset)}`);
    return { dataset: p.dataset, ...(p.normalization && { normalization: p.normalization }) };
  }
  const shape = input.shape.join('x');
  if (shape === '28x28x1' || shape === '784') return { dataset: 'mnist', guessed: `no ${PREPROCESSING_FILE} beside the model: its input ${shape} read as MNIST (pixel/127.5 - 1)` };
  if (shape === '32x32x3') {
    const cnv = /cnv/i.test(input.modelName);
    return { dataset: 'cifar10', normalization: cnv ? SYMMETRIC_NORMALIZATION : CIFAR10_NORMALIZATION, guessed: `no ${PREPROCESSING_FILE} beside the model: its input 32x32x3 read as CIFAR-10, ${cnv ? '2x/255 - 1 (FINN CNV)' : "CIFAR-10's mean/std"}` };
  }
  throw new Error(`${modelPath}: no ${PREPROCESSING_FILE} beside the model and its input [${input.shape.join(', ')}] is neither MNIST's 28x28x1 nor CIFAR-10's 32x32x3`);
}
