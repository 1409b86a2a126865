// `bnn train MODEL` and `bnn eval`: the built-in models on MNIST and CIFAR-10, trained on the GPU.
import { Gpu } from '../gpu/context.js';
import { loadMnist } from '../data/mnist.js';
import { ImageAugmenter } from '../data/augmenter.js';
import { DATASETS, isDatasetName, loadPreprocessing, preprocessor, savePreprocessing, type DatasetName, type Preprocessing } from '../data/datasets.js';
import { CIFAR10_NORMALIZATION, MNIST_NORMALIZATION, SYMMETRIC_NORMALIZATION, type Normalization } from '../ops/augment.js';
import { biRealNet } from '../zoo/bireal-net.js';
import { cifar10Vgg16 } from '../zoo/cifar10-vgg16.js';
import { finnCnv } from '../zoo/finn-cnv.js';
import { formatConfusion } from './confusion.js';
import { stderrIsTerminal } from './dawn-filter.js';
import { loadModel, saveModel } from '../io/model-files.js';
import type { Model } from '../model/model.js';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { shippedModelsDir } from '../io/shipped-models.js';
import { TrainingLog } from './training-record.js';
import { loadCheckpoint, saveCheckpoint, type Checkpoint, type CheckpointRun } from '../train/checkpoint.js';
import { ensureWritableDirectory } from '../io/write-atomic.js';
import { RUNS_DIR, refuseShippedDirectory } from './shipped-guard.js';
import { evaluate, fit } from '../train/fit.js';
import { argmax } from '../train/metrics.js';
import { batchCount } from '../data/batches.js';
import { describeOptimizer, optimizerConfigs, type OptimizerRun } from '../train/optimizer-run.js';
import { mnistMlp } from '../zoo/mnist-mlp.js';
import { MNIST_CNN_SCHEMES, mnistCnn, type MnistCnnScheme } from '../zoo/mnist-cnn.js';
import { withBinaryNetVariants } from '../zoo/variants.js';
import { UsageError, closest, positiveInt, type Command, type Flags } from './flags.js';
import { resolveModelFlag } from './model-argument.js';

/**
 * The trainable models by name, with their default learning rate (Adam): the MNIST MLP as written
 * (Larq's example: Keras's Adam default 0.001), and with BatchNorm before its softmax (BinaryNet's
 * MNIST MLP starts Adam at 0.003; measured here: 1 epoch with --recalibrate-bn, 94.8% at 0.003
 * against 93.1% at 0.001, docs/training.md).
 */
const MODELS: Record<string, { build: (seed: number, quant?: MnistCnnScheme, gradientBits?: number) => Model; dataset: DatasetName; learningRate: number; batchSize: number; quant?: boolean; normalization?: Normalization }> = {
  // The seed's model as its author trains it: QuantDense with Keras's default use_bias=True (the
  // output layer, with no BatchNorm after it, keeps its bias), the shipped models/mnist-mlp.
  'mnist-mlp': { build: (seed) => mnistMlp({ seed, useBias: true }), dataset: 'mnist', learningRate: 0.001, batchSize: 300 },
  'mnist-mlp-bn': { build: (seed) => mnistMlp({ seed, outputBatchNorm: true }), dataset: 'mnist', learningRate: 0.003, batchSize: 300 },
  // The MNIST CNN, --quant binary|xnor|ternary|dorefa; batch 100 as TensorLayer's example.
  'mnist-cnn': { build: (seed, quant, gradientBits) => mnistCnn({ seed, quant, gradientBits }), dataset: 'mnist', learningRate: 0.001, batchSize: 100, quant: true },
  // CIFAR-10: random crops (padding 4) and flips on the GPU. The binarized VGG16: Adam 0.02,
  // batch 100, inputs normalized by CIFAR-10's channel statistics.
  'cifar10-vgg16': { build: (seed) => cifar10Vgg16({ seed }), dataset: 'cifar10', learningRate: 0.02, batchSize: 100, normalization: CIFAR10_NORMALIZATION },
  // FINN's CNV as Brevitas trains CNV_1W1A (bnn_pynq_train.py): Adam 0.02, batch 100, crops and
  // flips, the 8-bit image as 2x/255 - 1 (256 levels) into the real-valued first layer. Brevitas
  // halves the rate every 40 epochs (--schedule exponential --decay-rate 0.983 is the smooth
  // equivalent) and uses a squared hinge loss; ours is softmax cross-entropy.
  'cifar10-cnv': { build: (seed) => finnCnv({ seed }), dataset: 'cifar10', learningRate: 0.02, batchSize: 100, normalization: SYMMETRIC_NORMALIZATION },
  // The zoo's Bi-Real Net 18 (a functional graph: Add shortcuts, global average pooling). Adam
  // 0.005: Larq zoo's TrainBiRealNet rate (there with batch 512 and a linear decay to 0; --schedule
  // cosine is the nearest here). Its shortcuts carry the real-valued activations, so it does not
  // need the 0.02 the plain binary CNNs start with. Batch 100 and the CIFAR-10 statistics as VGG16.
  'cifar10-bireal': { build: (seed) => biRealNet({ seed }), dataset: 'cifar10', learningRate: 0.005, batchSize: 100, normalization: CIFAR10_NORMALIZATION },
};

/** --mean/--std as numbers (one, or one per channel), else `base` (the model's default; none: the flags do not apply to `name`). */
function normalizationFrom(flags: Flags, name: string, base = MODELS[name]?.normalization): Normalization | undefined {
  const list = (flag: string) => {
    const v = flags.values.get(flag);
    if (v === undefined) return undefined;
    const xs = v.split(',').map(Number);
    if (!base) throw new UsageError(`--${flag} applies to the CIFAR-10 models, not ${name}`);
    if (!(xs.length === 1 || xs.length === 3) || xs.some((x) => !Number.isFinite(x) || (flag === 'std' && x <= 0))) throw new UsageError(`--${flag} must be 1 or 3 comma-separated numbers${flag === 'std' ? ' > 0' : ''}, got '${v}'`);
    return xs;
  };
  const mean = list('mean');
  const std = list('std');
  return base && { ...base, mean: mean ?? base.mean, std: std ?? base.std };
}

function quantFrom(flags: Flags, name: string): MnistCnnScheme | undefined {
  const q = flags.values.get('quant');
  if (q === undefined) return MODELS[name]?.quant ? 'binary' : undefined;
  if (!MODELS[name]?.quant) throw new UsageError(`--quant applies to mnist-cnn, not ${name}`);
  if (!(MNIST_CNN_SCHEMES as readonly string[]).includes(q)) throw new UsageError(`--quant must be ${MNIST_CNN_SCHEMES.join(', ')}, got '${q}'`);
  return q as MnistCnnScheme;
}

function numberFlag(flags: Flags, name: string): number | undefined {
  const v = flags.values.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got '${v}'`);
  return n;
}

function optimizerRunFrom(flags: Flags, defaultLearningRate: number): OptimizerRun {
  const kind = flags.values.get('optimizer') ?? 'adam';
  if (kind !== 'adam' && kind !== 'sgd' && kind !== 'shift_adamax' && kind !== 'bop') throw new UsageError(`--optimizer must be adam, sgd, shift_adamax or bop, got '${kind}'`);
  const schedule = flags.values.get('schedule') ?? 'constant';
  if (schedule !== 'constant' && schedule !== 'exponential' && schedule !== 'cosine') throw new UsageError(`--schedule must be constant, exponential or cosine, got '${schedule}'`);
  const decayRate = numberFlag(flags, 'decay-rate');
  if (decayRate !== undefined && schedule !== 'exponential') throw new UsageError('--decay-rate goes with --schedule exponential');
  const defaultRate = kind === 'adam' || kind === 'bop' ? (kind === 'bop' ? 0.01 : defaultLearningRate) : 0.01;
  const lrScale = flags.values.get('lr-scale') ?? 'none';
  if (lrScale !== 'none' && lrScale !== 'binarynet') throw new UsageError(`--lr-scale must be none or binarynet, got '${lrScale}'`);
  if (lrScale === 'binarynet' && kind === 'bop') throw new UsageError('--lr-scale binarynet scales learning rates; Bop has none for the binary kernels');
  return { kind, learningRate: numberFlag(flags, 'lr') ?? defaultRate, schedule, ...(schedule === 'exponential' && { decayRate: decayRate ?? 0.9 }), lrScale };
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** A saved model to continue or fine-tune (--model FILE): what `bnn train` needs of it. */
interface LoadedRun {
  model: Model;
  preprocessing: Preprocessing;
}

async function loadedRun(file: string, flags: Flags): Promise<LoadedRun> {
  const model = await loadModel(file);
  const shape = model.spec.inputs[0].shape;
  const asked = flags.values.get('data');
  // With --data, a model without a preprocessing.json (or with one for another data set) is fine.
  const found = await loadPreprocessing(file, { shape, modelName: model.name }).catch((e: unknown) => {
    if (asked === undefined) throw e;
    return undefined;
  });
  if (found?.guessed && asked === undefined) console.error(found.guessed);
  const dataset = asked ?? found!.dataset;
  if (!isDatasetName(dataset)) throw new UsageError(`--data ${dataset}: one of ${Object.keys(DATASETS).join(', ')}`);
  const want = DATASETS[dataset].shape;
  if (shape.reduce((a, b) => a * b, 1) !== want.reduce((a, b) => a * b, 1)) {
    throw new UsageError(`--model ${file}: its input [${shape.join(', ')}] does not take ${DATASETS[dataset].title} images [${want.join(', ')}]${asked ? '' : '; pass --data'}`);
  }
  const base = dataset === found?.dataset ? found.normalization : undefined;
  const normalization = normalizationFrom(flags, `--model ${file}`, base ?? (dataset === 'cifar10' ? CIFAR10_NORMALIZATION : undefined));
  return { model, preprocessing: { dataset, ...(normalization && { normalization }) } };
}

export async function trainCommand(flags: Flags): Promise<void> {
  await resolveModelFlag(flags);
  const file = flags.values.get('model');
  if (file !== undefined && flags.positional[1] !== undefined) throw new UsageError(`train takes a zoo MODEL or --model FILE, not both (got '${flags.positional[1]}' and --model ${file})`);
  if (file === undefined && flags.values.has('data')) throw new UsageError('--data applies to --model FILE (a zoo model trains on its own data set)');
  const loaded = file === undefined ? undefined : await loadedRun(file, flags);
  const name = file === undefined ? flags.positional[1] : `file:${file}`;
  if (loaded) {
    for (const zooOnly of ['quant', 'gradient-bits']) if (flags.values.has(zooOnly)) throw new UsageError(`--${zooOnly} applies to mnist-cnn, not to a loaded model`);
  } else if (!name || !Object.hasOwn(MODELS, name)) {
    const near = name === undefined ? undefined : closest(name, Object.keys(MODELS));
    throw new UsageError(`${name === undefined ? 'train needs a zoo model or --model FILE' : `no trainable model named '${name}'${near ? ` (did you mean ${near}?)` : ''}`}: ${Object.keys(MODELS).join(', ')}`);
  }
  const zoo = loaded ? undefined : MODELS[name];
  const epochs = positiveInt(flags, 'epochs') ?? 30;
  const batchSize = positiveInt(flags, 'batch') ?? zoo?.batchSize ?? 100;
  const quant = quantFrom(flags, name);
  const gradientBits = positiveInt(flags, 'gradient-bits');
  if (gradientBits !== undefined && !zoo?.quant) throw new UsageError(`--gradient-bits applies to mnist-cnn, not ${name}`);
  if (gradientBits !== undefined && gradientBits > 16) throw new UsageError(`--gradient-bits must be at most 16, got ${gradientBits}`);
  const seed = flags.values.has('seed') ? Number(flags.values.get('seed')) : 0;
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed must be a non-negative integer, got '${flags.values.get('seed')}'`);
  const limit = positiveInt(flags, 'limit');
  const out = flags.values.get('out') ?? (file === undefined ? join(RUNS_DIR, name) : join(RUNS_DIR, basename(file).replace(/\.(json|h5|keras)$/, '').replace(/^model$/, basename(dirname(resolve(file))))));
  await refuseShippedDirectory(out);
  const checkpointDir = join(out, 'checkpoint');
  // Where the checkpoints and the model go must be writable now, not after the first epoch.
  await ensureWritableDirectory(checkpointDir, `--out ${out}`);
  const dataset = DATASETS[loaded?.preprocessing.dataset ?? zoo!.dataset];
  const normalization = loaded ? loaded.preprocessing.normalization : normalizationFrom(flags, name);
  if (flags.switches.has('no-augment') && dataset.name !== 'cifar10') throw new UsageError(`--no-augment applies to the CIFAR-10 models, not ${name}`);
  const shift = positiveInt(flags, 'shift');
  if (shift !== undefined && dataset.name !== 'mnist') throw new UsageError(`--shift applies to the MNIST models (CIFAR-10 takes random crops and flips by default), not ${name}`);
  if (shift !== undefined && shift > 8) throw new UsageError(`--shift must be at most 8 pixels (a 28x28 digit shifted further leaves the image), got ${shift}`);
  let run: CheckpointRun = {
    model: name,
    seed,
    batchSize,
    epochs,
    optimizer: { ...optimizerRunFrom(flags, zoo?.learningRate ?? 0.001) },
    ...(quant && { quant }),
    ...(gradientBits && { gradientBits }),
    ...((dataset.name !== 'mnist' || loaded) && { preprocessing: { dataset: dataset.name, ...(normalization && { normalization }) } }),
    ...(dataset.name !== 'mnist' && { augment: !flags.switches.has('no-augment') }),
    ...(shift && { shift }),
  };
  let model = loaded ? loaded.model : zoo!.build(seed, quant, gradientBits);
  const shiftBatchNorm = flags.switches.has('shift-bn');
  const stochastic = flags.switches.has('stochastic');
  if (shiftBatchNorm || stochastic) model = await withBinaryNetVariants(model, { shiftBatchNorm, stochastic });
  let resumed: Checkpoint | null = null;
  if (flags.switches.has('resume')) {
    resumed = await loadCheckpoint(checkpointDir);
    if (!resumed) throw new UsageError(`--resume: no checkpoint in ${checkpointDir} (train without --resume first, with the same --out)`);
    if (resumed.run.model !== name) throw new UsageError(`--resume: ${checkpointDir} holds a ${resumed.run.model} run, not ${name}`);
    // The run continues with the settings it started with (its schedule spans the epochs it was started with).
    run = resumed.run;
    model = resumed.model;
    console.log(`resuming ${name} from ${checkpointDir}: ${resumed.epoch} epoch(s) done (seed ${run.seed}, batch ${run.batchSize}, ${describeOptimizer(run.optimizer as unknown as OptimizerRun)})`);
  }
  const started = new Date().toISOString();
  const log = (line: string) => console.error(line);
  const dataDir = flags.values.get('data-dir');
  const train = await dataset.load('train', { limit, dataDir, log });
  const test = await dataset.load('test', { limit: positiveInt(flags, 'test-limit'), dataDir, log });
  const preprocessing: Preprocessing = (run.preprocessing as Preprocessing | undefined) ?? { dataset: 'mnist' };
  const optimizerRun = run.optimizer as unknown as OptimizerRun;
  const { optimizer, defaultOptimizer, lrScale } = optimizerConfigs(optimizerRun, run.epochs ?? epochs, batchCount(train.count, run.batchSize));
  const gpu = await Gpu.create({ log: (line) => console.error(line) });
  const tty = stderrIsTerminal();
  const augment = run.augment
    ? new ImageAugmenter(gpu, { shape: dataset.shape, normalization: preprocessing.normalization!, seed: run.seed, label: `${name}.augment` })
    : run.shift
      ? new ImageAugmenter(gpu, { shape: dataset.shape, normalization: MNIST_NORMALIZATION, seed: run.seed, pad: run.shift, flip: false, label: `${name}.shift` })
      : undefined;
  try {
    const record = await TrainingLog.start(out, name, run, { argv: commandLine(), device: gpu.describe(), started, startEpoch: resumed?.epoch ?? 0 });
    const input = preprocessing.normalization
      ? `, inputs (x/255 - [${preprocessing.normalization.mean.join(', ')}]) / [${preprocessing.normalization.std.join(', ')}]${augment ? ', random crops (padding 4) and flips' : ''}`
      : run.shift
        ? `, random shifts of up to ${run.shift} pixel(s)`
        : '';
    console.log(`training ${name.replace(/^file:/, '')}${run.quant ? ` (${run.quant}${run.gradientBits ? `, ${run.gradientBits}-bit gradients` : ''})` : ''} on ${train.count} ${dataset.title} images, ${epochs} epoch(s), batch ${run.batchSize}, ${describeOptimizer(optimizerRun)}, seed ${run.seed}${input}, on ${gpu.describe()}`);
    await fit(gpu, model, train, {
      preprocess: preprocessor(preprocessing),
      augment,
      epochs,
      batchSize: run.batchSize,
      seed: run.seed,
      optimizer,
      defaultOptimizer,
      lrScale,
      test,
      startEpoch: resumed?.epoch ?? 0,
      state: resumed?.state,
      // A checkpoint after every epoch, written whole or not at all.
      afterEpoch: async (e, trainer) => {
        await saveCheckpoint(checkpointDir, { epoch: e.epoch + 1, run, model, state: await trainer.saveState() });
        await record.epoch(e);
      },
      recalibrateBn: flags.switches.has('recalibrate-bn'),
      onProgress: (p) => {
        const width = 30;
        const done = Math.round((p.step / p.steps) * width);
        const line = `epoch ${p.epoch + 1}/${epochs} [${'='.repeat(done)}${' '.repeat(width - done)}] ${p.step}/${p.steps}  loss ${p.loss.toFixed(4)}  acc ${pct(p.top1)}  ${Math.round(p.samplesPerSecond)} samples/s`;
        process.stderr.write(tty ? `\r${line}` : `${line}\n`);
      },
      onEpoch: (e) => {
        if (tty) process.stderr.write('\n');
        const r = e.testRecalibrated ? ` (BN recalibrated: top-1 ${pct(e.testRecalibrated.top1)} top-5 ${pct(e.testRecalibrated.top5)})` : '';
        const t = e.test ? `  test top-1 ${pct(e.test.top1)} top-5 ${pct(e.test.top5)} loss ${e.test.loss.toFixed(4)}${r}` : '';
        console.log(`epoch ${e.epoch + 1}: train loss ${e.trainLoss.toFixed(4)} acc ${pct(e.trainTop1)}${t}  (${e.seconds.toFixed(1)} s, ${(e.seconds / batchCount(train.count, run.batchSize)).toFixed(2)} s/step, ${Math.round(e.samplesPerSecond)} samples/s)`);
      },
    });
    const files = await saveModel(model, out);
    await savePreprocessing(out, preprocessing);
    await record.finish();
    console.log(`saved ${files.join(', ')}, ${join(out, 'preprocessing.json')}, ${record.file}`);
  } finally {
    augment?.destroy();
    gpu.destroy();
  }
}

/** The command line after `bnn`, as typed (the filtered child gets the same argv). */
const commandLine = () => process.argv.slice(2).filter((a) => a !== '--debug');

export async function evalCommand(flags: Flags): Promise<void> {
  await resolveModelFlag(flags);
  const path = flags.values.get('model');
  if (!path) throw new UsageError('eval needs --model path/to/model.json (or its directory)');
  const data = flags.values.get('data');
  if (data !== undefined && !isDatasetName(data)) throw new UsageError(`--data must be mnist or cifar10, got '${data}'`);
  const model = await loadModel(path);
  const preprocessing = await loadPreprocessing(path, { shape: model.spec.inputs[0].shape, modelName: model.name });
  if (preprocessing.guessed) console.error(preprocessing.guessed);
  if (data !== undefined && data !== preprocessing.dataset) throw new UsageError(`--data ${data}: the model was trained on ${preprocessing.dataset}`);
  const dataset = DATASETS[preprocessing.dataset];
  const test = await dataset.load('test', { limit: positiveInt(flags, 'limit'), dataDir: flags.values.get('data-dir'), log: (line) => console.error(line) });
  const gpu = await Gpu.create({ log: (line) => console.error(line) });
  try {
    const e = await evaluate(gpu, model, test, positiveInt(flags, 'batch') ?? 500, { preprocess: preprocessor(preprocessing) });
    if (flags.switches.has('json')) {
      console.log(JSON.stringify({ model: path, name: model.name, dataset: dataset.name, device: gpu.describe(), ...e }));
      return;
    }
    console.log(`${model.name} on ${dataset.title} test (${e.count} images): top-1 ${pct(e.top1)}, top-5 ${pct(e.top5)}, loss ${e.loss.toFixed(4)}`);
    console.log(formatConfusion(e.confusion, dataset.classes));
  } finally {
    gpu.destroy();
  }
}

/**
 * The demo's training part: mnist-mlp-bn for one epoch (with --recalibrate-bn), evaluated and
 * saved by `bnn train`, then the first test digits classified through `bnn predict`.
 */
export async function demoTraining(run: (argv: string[]) => Promise<void>): Promise<void> {
  const { mkdtempSync, readFileSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { readNpy, writeNpy } = await import('../io/npy.js');
  const { preprocessMnist } = await import('../data/mnist.js');
  const out = join(RUNS_DIR, 'demo-mnist-mlp-bn');
  await run(['train', 'mnist-mlp-bn', '--epochs', '1', '--recalibrate-bn', '--out', out]);
  const test = await loadMnist({ split: 'test', limit: 12 });
  const dir = mkdtempSync(join(tmpdir(), 'bnn-demo-'));
  writeFileSync(join(dir, 'digits.npy'), writeNpy(preprocessMnist(test.images), [test.count, 28, 28, 1]));
  await run(['predict', '--model', out, '--input', join(dir, 'digits.npy'), '--output', join(dir, 'probs.npy')]);
  const probs = readNpy(readFileSync(join(dir, 'probs.npy'))).data as Float32Array;
  const predicted = Array.from({ length: test.count }, (_, i) => {
    const row = probs.subarray(i * 10, (i + 1) * 10);
    return argmax(row);
  });
  const head = `first ${test.count} test digits: `;
  console.log(`${head}labels    ${Array.from(test.labels).join(' ')}`);
  console.log(`${' '.repeat(head.length)}predicted ${predicted.join(' ')}  (${predicted.filter((p, i) => p === test.labels[i]).length}/${test.count} right)`);
}

const modelOption = { kind: 'model', placeholder: 'MODEL', help: "a saved model: model.json or its directory, or a shipped model's name (mnist-mlp)" } as const;

export const TRAIN_COMMANDS: Command[] = [
  {
    name: 'train',
    args: 'MODEL | --model FILE',
    positionals: { min: 0, max: 1 },
    summary: `trains a model on the GPU (${Object.keys(MODELS).join(', ')}): progress, test top-1/top-5 each epoch, the model saved with its preprocessing`,
    details: `MODEL: mnist-mlp, the BinaryNet MLP for MNIST (784-512-512-512-10, as in Larq's example);
mnist-mlp-bn, the same with BatchNorm before its softmax; mnist-cnn, an MNIST CNN in one of four
quantization schemes (--quant); cifar10-vgg16, a binarized VGG16, cifar10-cnv, FINN's CNV, and
cifar10-bireal, a Bi-Real Net 18 (Add shortcuts), on CIFAR-10 (random crops and flips on the GPU;
CIFAR-10 from --data-dir DIR: DIR/cifar10/cifar-10-batches-bin/).
--model FILE instead continues or fine-tunes a saved model (model.json, a Keras .h5 or .keras file;
any model the trainer takes: Sequential, or functional with one input and a softmax output:
shortcuts, Concatenate, fan-out), on the
data set and preprocessing of its preprocessing.json, or as --data and --mean/--std say.
A checkpoint is written after every epoch (OUT/checkpoint); --resume continues from it. OUT/training.json records
the command, settings, device, dates and each epoch's figures. OUT defaults to runs/MODEL; models/ (the shipped
models) is refused.`,
    options: {
      model: { kind: 'model', placeholder: 'FILE', help: "a saved model to continue or fine-tune, instead of a zoo MODEL (model.json or its directory, .h5, .keras, or a shipped model's name)" },
      data: { kind: 'text', choices: Object.keys(DATASETS), help: "with --model: the data set (default: the model's preprocessing.json, else a guess from its input shape)" },
      epochs: { kind: 'posint', placeholder: 'N', help: 'epochs to train (default 30)' },
      batch: { kind: 'posint', placeholder: 'N', help: 'batch size (default 300 for the MLPs, 100 for the CNNs)' },
      lr: { kind: 'number', placeholder: 'X', help: 'learning rate (Adam: 0.001 mnist-mlp and mnist-cnn, 0.003 mnist-mlp-bn, 0.02 cifar10-vgg16 and cifar10-cnv, 0.005 cifar10-bireal; Bop: 0.01 for the rest)' },
      optimizer: { kind: 'text', choices: ['adam', 'sgd', 'shift_adamax', 'bop'], help: "adam (default); bop: Larq's Bop flips the binary kernels, Adam the rest" },
      schedule: { kind: 'text', choices: ['constant', 'exponential', 'cosine'], help: 'learning-rate schedule: cosine over the run, exponential by --decay-rate an epoch' },
      'decay-rate': { kind: 'number', placeholder: 'R', help: 'with --schedule exponential: the factor per epoch (default 0.9)' },
      'lr-scale': { kind: 'text', choices: ['none', 'binarynet'], help: "binarynet: binary kernels' rates times 1/sqrt(1.5/(fan_in+fan_out))" },
      seed: { kind: 'count', placeholder: 'N', help: 'seed of the weights and the shuffling (default 0)' },
      quant: { kind: 'text', choices: MNIST_CNN_SCHEMES, help: 'mnist-cnn: BinaryNet (binary), XNOR-Net (xnor), TWN (ternary) or DoReFa 1/3-bit (dorefa)' },
      'gradient-bits': { kind: 'posint', placeholder: 'K', help: "mnist-cnn: DoReFa-Net's K-bit gradients after each conv/dense layer" },
      limit: { kind: 'posint', placeholder: 'N', help: 'train on the first N training images' },
      'test-limit': { kind: 'posint', placeholder: 'N', help: 'evaluate on the first N test images' },
      out: { kind: 'path', placeholder: 'DIR', help: 'where the model, its checkpoint and training.json go (default runs/MODEL; never inside models/, the shipped models)' },
      resume: { kind: 'switch', help: 'continue the run in OUT/checkpoint' },
      'recalibrate-bn': { kind: 'switch', help: "re-estimate BatchNorm's moving statistics after each epoch" },
      'shift-bn': { kind: 'switch', help: "BinaryNet's shift-based BatchNorm (powers of two)" },
      stochastic: { kind: 'switch', help: "BinaryNet's stochastic binarization of activations while training" },
      shift: { kind: 'posint', placeholder: 'N', help: 'MNIST: shift each training image by up to N pixels at random (a crop of the image padded with background; no flips), on the GPU' },
      'no-augment': { kind: 'switch', help: 'CIFAR-10: no random crops and flips' },
      mean: { kind: 'text', placeholder: 'a,b,c', help: 'CIFAR-10: input normalization (x/255 - mean) / std, one number or one per channel' },
      std: { kind: 'text', placeholder: 'a,b,c', help: 'CIFAR-10: see --mean' },
      'data-dir': { kind: 'path', placeholder: 'DIR', help: 'where CIFAR-10 is read and cached (default ./.data)' },
    },
    run: trainCommand,
  },
  {
    name: 'eval',
    summary: "top-1 / top-5 (as Keras counts them), loss and the confusion matrix of a saved model on its data set's test split",
    options: {
      model: modelOption,
      data: { kind: 'text', choices: Object.keys(DATASETS), help: "the data set (default: the model's, from its preprocessing)" },
      limit: { kind: 'posint', placeholder: 'N', help: 'the first N test images' },
      batch: { kind: 'posint', placeholder: 'N', help: 'images per run of the plan (default 500)' },
      'data-dir': { kind: 'path', placeholder: 'DIR', help: 'where CIFAR-10 is read and cached (default ./.data)' },
      json: { kind: 'switch', help: 'print the figures (top1, top5, loss, count, confusion) as one JSON object' },
    },
    run: evalCommand,
  },
];
