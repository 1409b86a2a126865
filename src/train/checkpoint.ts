// Training checkpoints on disk (Node): the model in the executor's format, the optimizer's state,
// and where the run stands, written to a fresh directory and then renamed over the old one, so a
// checkpoint is always whole: an interrupted write leaves the previous one in place.
//
//   DIR/model.json, DIR/group1-shard1of1.bin   the weights (latent, float32), BN moving statistics
//   DIR/optimizer.bin                          the optimizer's state tensors, float32, back to back
//   DIR/checkpoint.json                        {format, epoch, run, optimizer, iterations, states}
import { loadModel, saveModel } from '../io/model-files.js';
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
  optimizer: Record<string, unknown>;
}

export interface Checkpoint {
  /** Epochs completed. */
  epoch: number;
  run: CheckpointRun;
  model: Model;
  state: TrainerState;
}

export async function saveCheckpoint(dir: string, c: Checkpoint): Promise<void> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const tmp = `${dir}.tmp-${process.pid}`;
  await fs.rm(tmp, { recursive: true, force: true });
  await saveModel(c.model, tmp);
  const total = c.state.states.reduce((a, e) => a + e.data.length, 0);
  const blob = new Float32Array(total);
  let off = 0;
  const states = c.state.states.map((e) => {
    blob.set(e.data, off);
    const entry = { param: e.param, name: e.name, offset: off, length: e.data.length };
    off += e.data.length;
    return entry;
  });
  await fs.writeFile(path.join(tmp, 'optimizer.bin'), new Uint8Array(blob.buffer));
  const meta = { format: FORMAT, epoch: c.epoch, run: c.run, optimizer: c.state.optimizer, iterations: c.state.iterations, states };
  await fs.writeFile(path.join(tmp, 'checkpoint.json'), JSON.stringify(meta, null, 2) + '\n');
  // Swap: the old checkpoint stays until the new one is in place.
  const old = `${dir}.old-${process.pid}`;
  const exists = await fs.stat(dir).then(() => true, () => false);
  if (exists) await fs.rename(dir, old);
  await fs.rename(tmp, dir);
  if (exists) await fs.rm(old, { recursive: true, force: true });
}

/** Reads a checkpoint, checking its parts against each other; null when `dir` has none. */
export async function loadCheckpoint(dir: string): Promise<Checkpoint | null> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const metaFile = path.join(dir, 'checkpoint.json');
  const text = await fs.readFile(metaFile, 'utf8').catch(() => null);
  if (text === null) return null;
  let meta: { format?: string; epoch?: number; run?: CheckpointRun; optimizer?: string; iterations?: number; states?: { param: string; name: string; offset: number; length: number }[] };
  try {
    meta = JSON.parse(text);
  } catch (e) {
    throw new TrainError(`${metaFile}: not valid JSON (${(e as Error).message}); delete the checkpoint directory to start over`);
  }
  if (meta.format !== FORMAT) throw new TrainError(`${metaFile}: format ${JSON.stringify(meta.format)}, expected ${FORMAT}`);
  if (!Number.isInteger(meta.epoch) || meta.epoch! < 0 || !Number.isInteger(meta.iterations) || !meta.run || typeof meta.optimizer !== 'string' || !Array.isArray(meta.states)) {
    throw new TrainError(`${metaFile}: missing or malformed epoch, iterations, run, optimizer or states`);
  }
  const bytes = await fs.readFile(path.join(dir, 'optimizer.bin'));
  const blob = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const states = meta.states.map((e) => {
    if (!(e.offset >= 0 && e.length >= 0 && e.offset + e.length <= blob.length)) throw new TrainError(`${dir}/optimizer.bin: state ${e.param}:${e.name} lies outside the file (truncated?)`);
    return { param: e.param, name: e.name, data: blob.slice(e.offset, e.offset + e.length) };
  });
  const model = await loadModel(dir);
  return { epoch: meta.epoch!, run: meta.run, model, state: { optimizer: meta.optimizer, iterations: meta.iterations!, states } };
}
