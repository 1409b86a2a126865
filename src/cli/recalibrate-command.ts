// `bnn recalibrate-bn --model MODEL --out DIR`: a trained model's BatchNormalization moving
// statistics re-estimated over one pass of its training data (Trainer.recalibrateBatchNorm), the
// model written with its preprocessing and a record, recalibration.json. Keras's momentum 0.99
// averages over the last hundred or so batches while the binary weights keep flipping, so the
// moving statistics lag the trained network; re-estimating them for the final weights is the
// standard remedy. Whether it helps is measured on the training split (top-1 with the moving
// statistics, before and after), never on the test split, so the decision to keep it uses no test
// labels.
import { Gpu } from '../gpu/context.js';
import { DATASETS, loadPreprocessing, preprocessor, savePreprocessing, PREPROCESSING_FILE } from '../data/datasets.js';
import { epochBatches } from '../data/batches.js';
import { loadModel, saveModel } from '../io/model-files.js';
import { writeFileAtomic, ensureWritableDirectory } from '../io/write-atomic.js';
import { evaluate, type Evaluation } from '../train/fit.js';
import { Trainer } from '../train/trainer.js';
import { UsageError, positiveInt, type Command, type Flags } from './flags.js';
import { resolveModelFlag } from './model-argument.js';
import { RUNS_DIR, refuseShippedDirectory } from './shipped-guard.js';
import { basename, dirname, join, resolve } from 'node:path';
import { stat } from 'node:fs/promises';

/** What recalibration.json holds. */
export interface RecalibrationRecord {
  /** The model recalibrated, as given. */
  source: string;
  argv: string[];
  device: string;
  date: string;
  dataset: string;
  /** Training images passed through (the whole split unless --limit), in order, without augmentation. */
  samples: number;
  batchSize: number;
  batchNormLayers: string[];
  /** Top-1 / top-5 / loss on the same training images with the moving statistics, before and after. */
  trainBefore: Pick<Evaluation, 'top1' | 'top5' | 'loss' | 'count'>;
  trainAfter: Pick<Evaluation, 'top1' | 'top5' | 'loss' | 'count'>;
}

export const RECALIBRATION_FILE = 'recalibration.json';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const figures = (e: Evaluation) => ({ top1: e.top1, top5: e.top5, loss: e.loss, count: e.count });

async function recalibrateCommand(flags: Flags): Promise<void> {
  await resolveModelFlag(flags);
  const path = flags.values.get('model');
  if (!path) throw new UsageError('recalibrate-bn needs --model path/to/model.json (or its directory, or a shipped model\'s name)');
  const source = resolve(path);
  const sourceDir = (await stat(source).catch(() => null))?.isDirectory() ? source : dirname(source);
  const out = flags.values.get('out') ?? join(RUNS_DIR, `${basename(sourceDir)}-recalibrated`);
  await refuseShippedDirectory(out);
  if (resolve(out) === sourceDir) throw new UsageError(`--out ${out} is the model's own directory: the recalibrated model goes beside it, so the model as trained is kept (give another --out)`);
  const model = await loadModel(path);
  const batchNormLayers = model.layers.filter((l) => l.class === 'BatchNormalization').map((l) => l.name);
  if (batchNormLayers.length === 0) throw new UsageError(`${path}: model "${model.name}" has no BatchNormalization layer, so there is nothing to recalibrate`);
  if (model.spec.inputs.length !== 1) throw new UsageError(`${path}: model "${model.name}" has ${model.spec.inputs.length} inputs; recalibrate-bn reads one image per sample from a data set (call Trainer.recalibrateBatchNorm with one array per input)`);
  const preprocessing = await loadPreprocessing(path, { shape: model.spec.inputs[0].shape, modelName: model.name });
  if (preprocessing.guessed) console.error(preprocessing.guessed);
  const { guessed: _, ...kept } = preprocessing;
  const dataset = DATASETS[preprocessing.dataset];
  const batchSize = positiveInt(flags, 'batch') ?? 300;
  await ensureWritableDirectory(out, `--out ${out}`);
  const train = await dataset.load('train', { limit: positiveInt(flags, 'limit'), dataDir: flags.values.get('data-dir'), log: (line) => console.error(line) });
  const preprocess = preprocessor(preprocessing);
  const gpu = await Gpu.create({ log: (line) => console.error(line) });
  try {
    console.log(`recalibrating ${batchNormLayers.length} BatchNormalization layer(s) of ${model.name} over ${train.count} ${dataset.title} training images (batch ${batchSize}, in order, no augmentation), on ${gpu.describe()}`);
    const before = await evaluate(gpu, model, train, 500, { preprocess });
    const trainer = await Trainer.create(gpu, model, { maxBatch: batchSize });
    try {
      await trainer.recalibrateBatchNorm(epochBatches(train, { batchSize, seed: 0, epoch: 0, shuffle: false, preprocess }));
      await trainer.syncModel();
    } finally {
      trainer.destroy();
    }
    const after = await evaluate(gpu, model, train, 500, { preprocess });
    const files = await saveModel(model, out);
    await savePreprocessing(out, kept);
    const record: RecalibrationRecord = {
      source: path,
      argv: process.argv.slice(2).filter((a) => a !== '--debug'),
      device: gpu.describe(),
      date: new Date().toISOString(),
      dataset: dataset.name,
      samples: train.count,
      batchSize,
      batchNormLayers,
      trainBefore: figures(before),
      trainAfter: figures(after),
    };
    await writeFileAtomic(join(out, RECALIBRATION_FILE), `${JSON.stringify(record, null, 2)}\n`);
    console.log(`training split, moving statistics as trained: top-1 ${pct(before.top1)}, top-5 ${pct(before.top5)}, loss ${before.loss.toFixed(4)}`);
    console.log(`training split, recalibrated:                 top-1 ${pct(after.top1)}, top-5 ${pct(after.top5)}, loss ${after.loss.toFixed(4)}`);
    console.log(after.top1 >= before.top1 ? 'recalibration raised (or kept) training-split top-1' : 'recalibration LOWERED training-split top-1: the model as trained may be the better one');
    console.log(`saved ${[...files, join(out, PREPROCESSING_FILE), join(out, RECALIBRATION_FILE)].join(', ')}`);
  } finally {
    gpu.destroy();
  }
}

export const RECALIBRATE_COMMAND: Command = {
  name: 'recalibrate-bn',
  summary: "re-estimates a trained model's BatchNorm moving statistics over its training data and saves it beside the original, with training-split top-1 before and after",
  details: `The moving mean and variance of every BatchNormalization become the plain average of the batch
statistics over one pass of the training split (in order, no augmentation) with the trained weights,
as bnn train --recalibrate-bn does after each epoch. Whether that helps is measured on the training
split (top-1 with the moving statistics, before and after), so keeping it takes no test labels.
Writes OUT/model.json, its shard, preprocessing.json and recalibration.json (the record: source,
command, device, date, the figures). OUT defaults to runs/NAME-recalibrated; the model's own directory
and models/ (the shipped models) are refused.`,
  options: {
    model: { kind: 'model', placeholder: 'MODEL', help: "the trained model: model.json or its directory (a run's --out), a Keras file, or a shipped model's name" },
    out: { kind: 'path', placeholder: 'DIR', help: 'where the recalibrated model goes (default runs/NAME-recalibrated)' },
    batch: { kind: 'posint', placeholder: 'N', help: 'images per batch of statistics (default 300)' },
    limit: { kind: 'posint', placeholder: 'N', help: 'the first N training images only' },
    'data-dir': { kind: 'path', placeholder: 'DIR', help: 'where CIFAR-10 is read and cached (default ./.data)' },
  },
  run: recalibrateCommand,
};
