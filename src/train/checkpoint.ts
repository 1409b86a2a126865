// Training checkpoints on disk (Node): the model in the executor's format, the optimizer's state,
// and where the run stands. Each checkpoint is a directory of its own, written and flushed under a
// temporary name, renamed, and then made current by one atomic rename of a pointer file, so a
// kill -9 at any instant or a full disk leaves the previous checkpoint current and whole
// (docs/training.md, "Checkpoints").
//
//   DIR/latest                                    the current checkpoint's directory name, e.g. "epoch-0003-1234-1"
//   DIR/epoch-0003-1234-1/model.json, group1-shard1of1.bin   the weights (latent, float32), BN moving statistics
//   DIR/epoch-0003-1234-1/optimizer.bin           the optimizer's state tensors, float32, back to back
//   DIR/epoch-0003-1234-1/checkpoint.json         {format, epoch, run, optimizer, iterations, states}
import { loadModel, modelFiles } from '../io/model-files.js';
import { readFileBounded, readTextBounded } from '../io/read-bounded.js';
import { syncDirectory, writeFileAtomic, writeFileDurable, type StepHook } from '../io/write-atomic.js';
import type { Model } from '../model/model.js';
import { TrainError, type TrainerState } from './trainer.js';

const FORMAT = 'webgpu-bnn-checkpoint-1';

export interface CheckpointRun {
  /** What `bnn train` was asked for: the model's name and the settings a resumed run must keep. */
  model: string;
  seed: number;
  batchSize: number;
  /** The epochs the run was started for (a schedule spans them); absent in older checkpoints. */
  epochs?: number;
  /** mnist-cnn's quantization scheme. */
  quant?: string;
  /** DoReFa-Net's k-bit gradients (mnist-cnn --gradient-bits). */
  gradientBits?: number;
  /** The model's input: data set and normalization (absent: MNIST's pixel/127.5 - 1). */
  preprocessing?: { dataset: string; normalization?: { scale: number; mean: readonly number[]; std: readonly number[] } };
  /** Random crops (padding 4) and flips of the training images on the GPU. */
  augment?: boolean;
  /** MNIST: random shifts of up to this many pixels (a random crop of the image padded with background), on the GPU. */
  shift?: number;
  optimizer: Record<string, unknown>;
}

export interface Checkpoint {
  /** Epochs completed. */
  epoch: number;
  run: CheckpointRun;
  model: Model;
  state: TrainerState;
}

const POINTER = 'latest';
/** Entries of DIR a save may remove once its checkpoint is current: older checkpoints, leftovers of killed saves, the single-directory layout of earlier versions. */
const OURS = /^(epoch-\d+-[\w.-]+|latest\.tmp-\d+|model\.json|group\d+-shard\d+of\d+\.bin|optimizer\.bin|checkpoint\.json)$/;
const CHECKPOINT_NAME = /^epoch-\d+-\d+-\d+$/;
let saves = 0;

export interface SaveCheckpointOptions {
  /** Called before each write, rename and removal (fault-injection tests kill or fail the process there). */
  onStep?: StepHook;
}

/**
 * Writes checkpoint `c` under `dir` and makes it the current one. On failure (a full disk, no
 * permission) nothing of the new checkpoint is left, the previous one stays current, and a
 * TrainError says so; a process killed mid-save leaves at most some leftovers, removed by the next save.
 */
export async function saveCheckpoint(dir: string, c: Checkpoint, options: SaveCheckpointOptions = {}): Promise<void> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const step = options.onStep;
  const name = `epoch-${String(c.epoch).padStart(4, '0')}-${process.pid}-${++saves}`;
  const tmp = path.join(dir, `${name}.tmp`);
  const final = path.join(dir, name);
  let committed = false;
  try {
    await fs.mkdir(dir, { recursive: true });
    await fs.mkdir(tmp);
    const total = c.state.states.reduce((a, e) => a + e.data.length, 0);
    const blob = new Float32Array(total);
    let off = 0;
    const states = c.state.states.map((e) => {
      blob.set(e.data, off);
      const entry = { param: e.param, name: e.name, offset: off, length: e.data.length };
      off += e.data.length;
      return entry;
    });
    const meta = { format: FORMAT, epoch: c.epoch, run: c.run, optimizer: c.state.optimizer, iterations: c.state.iterations, states };
    // checkpoint.json last: a directory holding it holds everything.
    const files: [string, Uint8Array | string][] = [...modelFiles(c.model), ['optimizer.bin', new Uint8Array(blob.buffer)], ['checkpoint.json', JSON.stringify(meta, null, 2) + '\n']];
    for (const [file, data] of files) await writeFileDurable(path.join(tmp, file), data, { onStep: step });
    await syncDirectory(tmp);
    await step?.(`rename ${tmp} -> ${final}`);
    await fs.rename(tmp, final);
    await syncDirectory(dir);
    await writeFileAtomic(path.join(dir, POINTER), `${name}\n`, { onStep: step });
    committed = true;
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    if (!committed) await fs.rm(final, { recursive: true, force: true }).catch(() => {});
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOSPC' ? 'the disk is full' : err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'EROFS' ? 'no permission to write there' : 'the write failed';
    const previous = await readPointer(dir).catch(() => null);
    throw new TrainError(
      `checkpoint of epoch ${c.epoch} in ${dir}: ${why} (${err.code ?? err.message}); its partial files were removed, ` +
        (previous ? `the previous checkpoint (${previous}) is intact; free space or fix the directory, then run again with --resume` : 'there is no earlier checkpoint; free space or fix the directory, then start again'),
    );
  }
  // The new checkpoint is current: the rest is tidying, retried by the next save if it fails.
  for (const entry of await fs.readdir(dir).catch(() => [] as string[])) {
    if (entry === name || entry === POINTER || !OURS.test(entry.replace(/\.tmp$/, ''))) continue;
    await step?.(`remove ${path.join(dir, entry)}`);
    await fs.rm(path.join(dir, entry), { recursive: true, force: true }).catch(() => {});
  }
}

/** The current checkpoint's directory name from DIR/latest; null when there is none. */
async function readPointer(dir: string): Promise<string | null> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const file = path.join(dir, POINTER);
  if (!(await fs.lstat(file).catch(() => null))) return null;
  const text = await readTextBounded(file, { maxBytes: 256, within: dir, error: (_f, m) => new TrainError(m) });
  const name = text.trim();
  if (!CHECKPOINT_NAME.test(name)) throw new TrainError(`${file}: names "${name.slice(0, 80)}", not a checkpoint directory (epoch-N-PID-K); delete ${dir} to start over`);
  return name;
}

/**
 * Reads the current checkpoint under `dir` (or one in the single-directory layout of earlier
 * versions), checking its parts against each other; null when `dir` has none.
 */
export async function loadCheckpoint(dir: string): Promise<Checkpoint | null> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const name = await readPointer(dir);
  if (name !== null) {
    const at = path.join(dir, name);
    if (!(await fs.stat(at).catch(() => null))?.isDirectory()) throw new TrainError(`${path.join(dir, POINTER)} names ${name}, which is missing; delete ${dir} to start over`);
    return loadCheckpointDirectory(at);
  }
  if (await fs.stat(path.join(dir, 'checkpoint.json')).catch(() => null)) return loadCheckpointDirectory(dir);
  return null;
}

type Meta = { format?: string; epoch?: number; run?: CheckpointRun; optimizer?: string; iterations?: number; states?: { param: string; name: string; offset: number; length: number }[] };

async function loadCheckpointDirectory(dir: string): Promise<Checkpoint> {
  const path = await import('node:path');
  const metaFile = path.join(dir, 'checkpoint.json');
  const error = (_f: string, m: string) => new TrainError(m);
  const text = await readTextBounded(metaFile, { maxBytes: 64 * 2 ** 20, within: dir, error });
  let meta: Meta;
  try {
    meta = JSON.parse(text);
  } catch (e) {
    throw new TrainError(`${metaFile}: not valid JSON (${(e as Error).message}); delete the checkpoint directory to start over`);
  }
  if (meta === null || typeof meta !== 'object') throw new TrainError(`${metaFile}: not an object`);
  if (meta.format !== FORMAT) throw new TrainError(`${metaFile}: format ${String(meta.format).slice(0, 80)}, expected ${FORMAT}`);
  if (!Number.isInteger(meta.epoch) || meta.epoch! < 0 || !Number.isInteger(meta.iterations) || !meta.run || typeof meta.optimizer !== 'string' || !Array.isArray(meta.states)) {
    throw new TrainError(`${metaFile}: missing or malformed epoch, iterations, run, optimizer or states`);
  }
  let floats = 0;
  for (const e of meta.states) {
    if (!(e && Number.isSafeInteger(e.offset) && Number.isSafeInteger(e.length) && e.offset >= 0 && e.length >= 0)) throw new TrainError(`${metaFile}: a state entry without an integer offset and length`);
    floats = Math.max(floats, e.offset + e.length);
  }
  const bytes = await readFileBounded(path.join(dir, 'optimizer.bin'), { maxBytes: 4 * floats, limitReason: "what checkpoint.json's states need", within: dir, error });
  const blob = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
  const states = meta.states.map((e) => {
    if (e.offset + e.length > blob.length) throw new TrainError(`${dir}/optimizer.bin: state ${e.param}:${e.name} lies outside the file (truncated?)`);
    return { param: e.param, name: e.name, data: blob.slice(e.offset, e.offset + e.length) };
  });
  const model = await loadModel(dir);
  return { epoch: meta.epoch!, run: meta.run, model, state: { optimizer: meta.optimizer, iterations: meta.iterations!, states } };
}
