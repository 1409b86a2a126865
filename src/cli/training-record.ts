// OUT/training.json, the record `bnn train` keeps of a run: the exact commands (a resumed run adds
// one), the settings, the device, dates and each epoch's figures. Rewritten whole after every epoch,
// so an interrupted run still has its record; scripts/model-card.mjs writes model cards from it (or
// from recordFromLog, the same facts read back from the output of a run older than the record).
import { join } from 'node:path';
import { readTextBounded } from '../io/read-bounded.js';
import { writeFileAtomic } from '../io/write-atomic.js';
import type { CheckpointRun } from '../train/checkpoint.js';
import type { EpochResult, Evaluation } from '../train/fit.js';

export const TRAINING_RECORD = 'training.json';

/** One invocation of `bnn train` that trained this run's epochs. */
export interface TrainingSession {
  /** The command line after `bnn`, as typed: ["train", "mnist-mlp", "--epochs", "30"]. */
  argv: string[];
  device: string;
  /** ISO 8601 date and time, UTC. */
  started: string;
  /** Epochs already done when it started (0, or the checkpoint's with --resume). */
  startEpoch: number;
}

/** Test figures of an epoch; loss and count are absent where a log did not print them. */
interface Figures {
  top1: number;
  top5: number;
  loss?: number;
  count?: number;
}

export interface EpochRecord {
  /** 1-based. */
  epoch: number;
  trainLoss: number;
  trainTop1: number;
  test?: Figures;
  testRecalibrated?: Figures;
  seconds: number;
  samplesPerSecond: number;
  /** ISO 8601, when the epoch (its evaluation included) ended. */
  finished: string;
}

export interface TrainingRecord {
  /** The zoo model's name, or file:PATH for --model. */
  model: string;
  /** From a log: `optimizer` holds only what the log says, as `{ text: "adam lr 0.001" }`. */
  run: CheckpointRun;
  sessions: TrainingSession[];
  epochs: EpochRecord[];
  /** ISO 8601 when the last epoch of the run ended and the model was saved; absent while it runs. */
  finished?: string;
  node: string;
}

const figures = (e: Evaluation | undefined): Figures | undefined => e && { top1: e.top1, top5: e.top5, loss: e.loss, count: e.count };

/** The run's record, rewritten whole after each epoch and at the end. A resumed run keeps the record's first `session.startEpoch` epochs. */
export class TrainingLog {
  private constructor(readonly file: string, readonly record: TrainingRecord) {}

  static async start(out: string, model: string, run: CheckpointRun, session: TrainingSession): Promise<TrainingLog> {
    const file = join(out, TRAINING_RECORD);
    let earlier: TrainingRecord | undefined;
    if (session.startEpoch > 0) {
      // A record an older version did not write, or one that cannot be read, starts afresh: the checkpoint is what resumes.
      earlier = await readTextBounded(file, { maxBytes: 16 * 2 ** 20 }).then((t) => JSON.parse(t) as TrainingRecord, () => undefined);
    }
    const record: TrainingRecord = {
      model,
      run,
      sessions: [...(earlier?.sessions ?? []), session],
      epochs: (earlier?.epochs ?? []).filter((e) => e.epoch <= session.startEpoch),
      node: process.version,
    };
    const log = new TrainingLog(file, record);
    await log.write();
    return log;
  }

  async epoch(e: EpochResult): Promise<void> {
    this.record.epochs.push({
      epoch: e.epoch + 1,
      trainLoss: e.trainLoss,
      trainTop1: e.trainTop1,
      ...(e.test && { test: figures(e.test) }),
      ...(e.testRecalibrated && { testRecalibrated: figures(e.testRecalibrated) }),
      seconds: e.seconds,
      samplesPerSecond: e.samplesPerSecond,
      finished: new Date().toISOString(),
    });
    await this.write();
  }

  async finish(): Promise<void> {
    this.record.finished = new Date().toISOString();
    await this.write();
  }

  private write(): Promise<void> {
    return writeFileAtomic(this.file, `${JSON.stringify(this.record, null, 1)}\n`);
  }
}

/**
 * The record of a run from what `bnn train` printed (its stdout and stderr, as a log file keeps
 * them): model, epochs, batch, optimizer, seed and device from the "training ..." line, each epoch's
 * figures from its "epoch N: ..." line (a resumed run repeats epochs: the last one counts),
 * `finished` = `finishedAt` when the log ends with the "saved ..." line. The command is not in the
 * log: `argv` gives it. Dates are not either: the caller passes the log's last write.
 */
export function recordFromLog(text: string, argv: string[], finishedAt: string): TrainingRecord {
  const header = /^training (\S+) (?:\(.*?\) )?on (\d+) .*?images, (\d+) epoch\(s\), batch (\d+), (.+?), seed (\d+).*?, on (.+)$/m.exec(text);
  if (!header) throw new Error('no "training MODEL on N ... images, ..." line: not the output of bnn train');
  const [, model, , epochs, batch, optimizer, seed, device] = header;
  const byEpoch = new Map<number, EpochRecord>();
  const figures = (top1: string, top5: string, loss?: string): Figures => ({ top1: Number(top1) / 100, top5: Number(top5) / 100, ...(loss !== undefined && { loss: Number(loss) }) });
  const line = /^epoch (\d+): train loss ([\d.]+) acc ([\d.]+)%(?:\s+test top-1 ([\d.]+)% top-5 ([\d.]+)% loss ([\d.]+)(?: \(BN recalibrated: top-1 ([\d.]+)% top-5 ([\d.]+)%\))?)?\s+\(([\d.]+) s, [\d.]+ s\/step, (\d+) samples\/s\)/gm;
  for (const m of text.matchAll(line)) {
    byEpoch.set(Number(m[1]), {
      epoch: Number(m[1]),
      trainLoss: Number(m[2]),
      trainTop1: Number(m[3]) / 100,
      ...(m[4] !== undefined && { test: figures(m[4], m[5], m[6]) }),
      ...(m[7] !== undefined && { testRecalibrated: figures(m[7], m[8]) }),
      seconds: Number(m[9]),
      samplesPerSecond: Number(m[10]),
      finished: '', // not in the log
    });
  }
  return {
    model,
    run: { model, seed: Number(seed), batchSize: Number(batch), epochs: Number(epochs), optimizer: { text: optimizer } },
    sessions: [{ argv, device, started: '', startEpoch: 0 }], // started: not in the log
    epochs: [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch),
    ...(/^saved /m.test(text) && { finished: finishedAt }),
    node: '',
  };
}
