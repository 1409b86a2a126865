// `bnn summary`, `bnn predict` and `bnn export`: a model file in, a table or .npy files out.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Gpu } from '../gpu/context.js';
import { exportActivations, exportWeights, type ExportEntry } from '../io/export.js';
import { loadModel } from '../io/model-files.js';
import { readNpy, writeNpy } from '../io/npy.js';
import { readFileBounded } from '../io/read-bounded.js';
import { OutputPathError, writeFileAtomic } from '../io/write-atomic.js';
import type { Model } from '../model/model.js';
import { formatSummary, summarize } from '../model/summary.js';
import { lowerModel } from '../plan/lower.js';
import { describePlan } from '../plan/plan.js';
import { describeKernelPaths, describePasses } from '../plan/passes/describe.js';
import { InferencePlan, type PlanOutput } from '../plan/plan.js';
import { UsageError, closest, positiveInt, type Command, type Flags } from './flags.js';
import { ZOO } from '../zoo/registry.js';
import { predictImageCommand } from './predict-image.js';
import { resolveModelArgument, resolveModelFlag } from './model-argument.js';
import { isModelName, shippedModelNames } from '../io/shipped-models.js';
import { loadPreprocessing, type Preprocessing } from '../data/datasets.js';
import { modelInputFrom } from '../data/input-check.js';

function modelPath(flags: Flags, positional = false): string {
  const p = flags.values.get('model') ?? (positional ? flags.positional[1] : undefined);
  if (!p) throw new UsageError(positional ? 'needs a model: bnn summary path/to/model.json' : 'needs --model path/to/model.json (or its directory)');
  return p;
}

/** The largest .npy input read (1 GiB: 268M float32 values). */
export const MAX_INPUT_BYTES = 2 ** 30;

/** Writes a file whole or not at all; a path naming a directory is refused before anything is written. */
async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  try {
    await writeFileAtomic(path, data);
  } catch (e) {
    if (e instanceof OutputPathError) throw new UsageError(e.message);
    throw e;
  }
}

export async function summaryCommand(flags: Flags): Promise<void> {
  const path = modelPath(flags, true);
  // A file of that name, else a shipped model (trained weights), else a zoo model (bnn summary cifar10-vgg16).
  const shipped = existsSync(path) || !isModelName(path) ? [] : await shippedModelNames();
  if (!existsSync(path) && !shipped.includes(path) && !Object.hasOwn(ZOO, path)) {
    if (/[\\/]|\.(json|h5|keras)$/i.test(path)) throw new UsageError(`${path}: no such file or directory`);
    const near = closest(path, [...shipped, ...Object.keys(ZOO)]);
    const listed = `the shipped models are ${shipped.join(', ') || 'none'}; the zoo models ${Object.keys(ZOO).join(', ')}`;
    throw new UsageError(`no shipped model, zoo model or file named '${path}'${near ? ` (did you mean ${near}?)` : ''}; ${listed}`);
  }
  const model = existsSync(path) || shipped.includes(path) ? await loadModel(await resolveModelArgument(path)) : ZOO[path].build();
  if (shipped.includes(path)) console.error(`${path}: the shipped model (${await resolveModelArgument(path)})`);
  const s = summarize(model.spec);
  if (flags.switches.has('json')) {
    console.log(JSON.stringify({ ...s, layers: s.layers.map((l) => ({ ...l, params: Object.fromEntries(l.params) })) }, null, 2));
    return;
  }
  console.log(formatSummary(s));
  if (flags.switches.has('plan')) {
    // The compiled plan's steps (lowering is pure CPU: no GPU needed). Inputs holding only +-1 take another variant.
    console.log(`\ncompiler passes:\n${describePasses(model.spec)}`);
    console.log(`\nplan (real-valued inputs):\n${describePlan(lowerModel(model.spec))}`);
    const signs = lowerModel(model.spec, { signInputs: model.spec.inputs.map(() => true) });
    const other = describePlan(signs);
    if (other !== describePlan(lowerModel(model.spec))) {
      console.log(`\nkernel paths (inputs holding only +-1, e.g. binarized pixels):\n${describeKernelPaths(signs.paths)}`);
      console.log(`\nplan (inputs holding only +-1, e.g. binarized pixels):\n${other}`);
    }
  }
}

/**
 * The preprocessing inputs are checked against: the model's preprocessing.json, for a model with
 * one image input. A guessed one (no file) is used only when --preprocess asks for it; unknown: none.
 */
async function inputPreprocessing(flags: Flags, model: Model): Promise<Preprocessing | undefined> {
  const preprocess = flags.switches.has('preprocess');
  if (model.inputs.length !== 1) {
    if (preprocess) throw new UsageError(`--preprocess applies to models with one image input; this one has ${model.inputs.length}`);
    return undefined;
  }
  const p = await loadPreprocessing(modelPath(flags), { shape: model.spec.inputs[0].shape, modelName: model.name }).catch(() => undefined);
  if (preprocess && !p) throw new UsageError(`--preprocess: ${modelPath(flags)} has no preprocessing.json and its input [${model.spec.inputs[0].shape.join(', ')}] is not an image size known here (MNIST 28x28x1, CIFAR-10 32x32x3)`);
  if (p?.guessed && !preprocess) return undefined;
  if (p?.guessed) console.error(p.guessed);
  return p;
}

/** How readInputs treats values: NaN (refused unless allowed), and the model's preprocessing. */
interface InputChecks {
  allowNaN: boolean;
  /** Check the inputs against it (modelInputFrom), or with `preprocess` make them by it. */
  preprocessing?: Preprocessing;
  preprocess: boolean;
}

async function inputChecks(flags: Flags, model: Model): Promise<InputChecks> {
  return { allowNaN: flags.switches.has('allow-nan'), preprocessing: await inputPreprocessing(flags, model), preprocess: flags.switches.has('preprocess') };
}

/**
 * The model inputs from .npy files (comma-separated, one per model input), as float32 batches.
 * Each file is a regular file of at most MAX_INPUT_BYTES; NaN values are refused unless `allowNaN`
 * (the plan would turn them into confident-looking outputs); checked against (or, with
 * --preprocess, made by) the model's preprocessing when it has one.
 */
async function readInputs(model: Model, list: string, checks: InputChecks): Promise<{ data: Float32Array[]; batch: number }> {
  const { allowNaN } = checks;
  const files = list.split(',');
  if (files.length !== model.inputs.length) throw new UsageError(`the model has ${model.inputs.length} input(s) (${model.inputs.map((i) => i.name).join(', ')}); --input names ${files.length} file(s)`);
  let batch = -1;
  const data: Float32Array[] = [];
  for (const [i, file] of files.entries()) {
    const inp = model.inputs[i];
    let arr;
    try {
      arr = readNpy(await readFileBounded(file, { maxBytes: MAX_INPUT_BYTES, limitReason: 'MAX_INPUT_BYTES' }));
    } catch (e) {
      throw new UsageError(`${file}: ${(e as Error).message}`);
    }
    const per = inp.shape.reduce((a, b) => a * b, 1);
    const shape = arr.shape;
    const single = shape.length === inp.shape.length && shape.every((d, k) => d === inp.shape[k]);
    const batched = shape.length === inp.shape.length + 1 && shape.slice(1).every((d, k) => d === inp.shape[k]);
    if (!single && !batched) throw new UsageError(`${file}: shape [${shape}] is not [N, ${inp.shape}] or [${inp.shape}] (input "${inp.name}")`);
    const n = single ? 1 : shape[0];
    if (batch >= 0 && n !== batch) throw new UsageError(`${file}: ${n} samples, the first input has ${batch}`);
    batch = n;
    if (arr.data.length !== n * per) throw new UsageError(`${file}: ${arr.data.length} values for ${n} samples of ${per}`);
    const x = arr.data instanceof Float32Array ? arr.data : Float32Array.from(arr.data as ArrayLike<number>);
    const nan = allowNaN ? -1 : x.findIndex((v) => Number.isNaN(v));
    if (nan >= 0) throw new UsageError(`${file}: value ${nan} (sample ${Math.floor(nan / per)}) is NaN; the outputs would look normal but mean nothing. Fix the input, or pass --allow-nan to run it anyway`);
    data.push(checks.preprocessing ? modelInputFrom(file, arr, checks.preprocessing, { preprocess: checks.preprocess, allowNaN }) : x);
  }
  if (batch < 1) throw new UsageError('the input holds no samples');
  return { data, batch };
}

/** Runs `names` over the whole input in chunks of `chunk` samples; concatenates per name. */
async function runChunked(plan: InferencePlan, model: Model, inputs: Float32Array[], batch: number, chunk: number, names: string[]): Promise<Map<string, PlanOutput>> {
  const parts = new Map<string, PlanOutput[]>(names.map((n) => [n, []]));
  for (let start = 0; start < batch; start += chunk) {
    const n = Math.min(chunk, batch - start);
    const slice = inputs.map((x, i) => {
      const per = model.inputs[i].shape.reduce((a, b) => a * b, 1);
      return x.subarray(start * per, (start + n) * per);
    });
    const got = await plan.run(slice, { outputs: names });
    for (const name of names) parts.get(name)!.push(got.get(name)!);
  }
  const concat = <T extends Float32Array | Uint32Array>(arrays: T[], make: (n: number) => T): T => {
    const all = make(arrays.reduce((a, x) => a + x.length, 0));
    let off = 0;
    for (const x of arrays) {
      all.set(x, off);
      off += x.length;
    }
    return all;
  };
  const out = new Map<string, PlanOutput>();
  for (const [name, ps] of parts) {
    const data = concat(ps.map((p) => p.data), (n) => new Float32Array(n));
    // Bits are packed per row of the last axis, so chunks concatenate as they are.
    const bits = ps[0].bits ? concat(ps.map((p) => p.bits!), (n) => new Uint32Array(n)) : undefined;
    out.set(name, { shape: [batch, ...ps[0].shape.slice(1)], data, ...(bits ? { bits } : {}) });
  }
  return out;
}

const npyFor = (t: PlanOutput) => (t.bits ? writeNpy(Int8Array.from(t.data), t.shape) : writeNpy(t.data, t.shape));
const fileName = (name: string) => `${name.replace(':', '.').replace(/[^A-Za-z0-9_.-]/g, '_')}.npy`;

function layerList(flags: Flags, model: Model): string[] | undefined {
  const text = flags.values.get('layers');
  if (!text) return undefined;
  return text.split(',').map((n) => n.trim()).filter((n) => n.length > 0);
}

/** Every layer's output and every quantized layer's quantized input. */
function allActivationNames(model: Model): string[] {
  return [...model.layers.map((l) => l.name), ...model.layers.filter((l) => 'input_quantizer' in l.config && l.config.input_quantizer !== null).map((l) => `${l.name}:input`)];
}

export async function predictCommand(flags: Flags): Promise<void> {
  await resolveModelFlag(flags);
  if (flags.values.has('image')) return predictImageCommand(flags, writeAtomic);
  if (flags.values.has('chart')) throw new UsageError('--chart draws the probabilities of --image PHOTO; give --image too');
  const inputFiles = flags.values.get('input');
  const output = flags.values.get('output');
  if (!inputFiles) throw new UsageError('predict needs --input X.npy (float32 [N, ...input shape])');
  if (!output) throw new UsageError('predict needs --output Y.npy');
  const model = await loadModel(modelPath(flags));
  const { data, batch } = await readInputs(model, inputFiles, await inputChecks(flags, model));
  const chunk = Math.min(positiveInt(flags, 'batch') ?? 256, batch);
  const actDir = flags.values.get('activations');
  const extra = actDir ? (layerList(flags, model) ?? allActivationNames(model)) : [];
  if (!actDir && flags.values.has('layers')) throw new UsageError('--layers chooses what --activations DIR writes; give --activations too');
  const gpu = await Gpu.create({ log: (line) => console.error(line) });
  try {
    const plan = await InferencePlan.compile(gpu, model, { maxBatch: chunk });
    const names = [...new Set([...model.outputs, ...extra])];
    const t0 = performance.now();
    const got = await runChunked(plan, model, data, batch, chunk, names);
    const ms = performance.now() - t0;
    for (const [i, name] of model.outputs.entries()) {
      const path = i === 0 ? output : output.replace(/(\.npy)?$/, `.${fileName(name)}`);
      const t = got.get(name)!;
      await writeAtomic(path, writeNpy(t.data, t.shape)); // model outputs as float32, binary ones too
      console.log(`${name}: [${t.shape.join(', ')}] float32 -> ${path}`);
    }
    if (actDir) {
      for (const name of extra) await writeAtomic(join(actDir, fileName(name)), npyFor(got.get(name)!));
      console.log(`${extra.length} activation(s) -> ${actDir}/ (binary ones as int8 +-1, others float32)`);
    }
    console.log(`${batch} sample(s) in ${ms.toFixed(1)} ms on ${gpu.describe()}`);
    plan.destroy();
  } finally {
    gpu.destroy();
  }
}

export async function exportCommand(flags: Flags): Promise<void> {
  await resolveModelFlag(flags);
  const out = flags.values.get('out');
  if (!out) throw new UsageError('export needs --out DIR');
  const model = await loadModel(modelPath(flags));
  const weights = exportWeights(model);
  const manifest: ExportEntry[] = [...weights.manifest];
  const files = new Map(weights.files);
  const actFile = flags.values.get('activations');
  if (!actFile && flags.values.has('layers')) throw new UsageError('--layers chooses which activations to export; give --activations X.npy too');
  if (!actFile && flags.switches.has('preprocess')) throw new UsageError('--preprocess applies to the inputs of --activations X.npy; give --activations too');
  if (actFile) {
    const { data, batch } = await readInputs(model, actFile, await inputChecks(flags, model));
    const gpu = await Gpu.create({ log: (line) => console.error(line) });
    try {
      const plan = await InferencePlan.compile(gpu, model, { maxBatch: batch });
      const acts = await exportActivations(plan, data, layerList(flags, model));
      plan.destroy();
      for (const [k, v] of acts.files) files.set(k, v);
      manifest.push(...acts.manifest);
    } finally {
      gpu.destroy();
    }
  }
  for (const [file, bytes] of files) await writeAtomic(join(out, file), bytes);
  await writeAtomic(join(out, 'manifest.json'), JSON.stringify({ model: model.name, source: modelPath(flags), files: manifest }, null, 2) + '\n');
  console.log(`${files.size} .npy file(s) and manifest.json -> ${out}/`);
}

const modelOption = { kind: 'model', placeholder: 'MODEL', help: "a TF.js Layers model.json (or its directory), a Keras .h5 / .keras file (Larq layer classes), or a shipped model's name (mnist-mlp)" } as const;
const allowNanOption = { kind: 'switch', help: 'run inputs holding NaN anyway (refused by default: the outputs would look normal but mean nothing)' } as const;
const preprocessOption = { kind: 'switch', help: "the inputs are raw pixels 0..255: apply the model's preprocessing (preprocessing.json) to them" } as const;
const layersOption = { kind: 'text', list: true, placeholder: 'a,b', help: "only these layers' activations (names, or layer:input for a quantized layer's binarized input)" } as const;

export const MODEL_COMMANDS: Command[] = [
  {
    name: 'summary',
    args: 'MODEL',
    positionals: { min: 0, max: 1 },
    summary: 'per layer: output shape, input bits, parameters by bit width, memory, MACs; totals and the saving against float32 (as larq.models.summary)',
    details: `MODEL: a model.json (or its directory), a shipped model's name (its trained weights; a path of that name wins), or a built-in model by name (untrained): ${Object.entries(ZOO).map(([k, z]) => `${k} (${z.description})`).join(', ')}.`,
    options: {
      model: { kind: 'text', placeholder: 'MODEL', help: 'the model, if not given as the argument' },
      json: { kind: 'switch', help: 'print the summary as JSON' },
      plan: { kind: 'switch', help: 'also print the compiler passes (the graph after canonicalization, value facts, fusions) and the compiled plan: one line per kernel step (what plan.describe() prints)' },
    },
    run: summaryCommand,
  },
  {
    name: 'predict',
    summary: "runs a model's compiled plan on .npy inputs (or a photo with --image) and writes its outputs",
    details: `With --input: X float32 [N, ...input shape] (several inputs: a.npy,b.npy); Y the model output as float32. A model saved with its preprocessing (preprocessing.json, written by bnn train) has its inputs checked against it: raw pixels, [0, 1] images or integer arrays are refused with the fix; --preprocess applies the preprocessing to raw pixels 0..255.

--activations DIR also writes each layer's output and each quantized layer's binarized input (name.input.npy; binary tensors as int8 +-1), or only --layers.

With --image: a JPEG or PNG photo made into the model's input (for MNIST models the digit as MNIST's were made: inverted on a light background, boxed into 20x20, centred by mass in 28x28; for CIFAR-10 models the centre square reduced to 32x32), preprocessed as the model was trained; prints the class probabilities, top-1 starred; --chart draws them as a bar chart PNG.`,
    options: {
      model: modelOption,
      input: { kind: 'input', list: true, placeholder: 'X.npy', help: 'the inputs: float32 [N, ...input shape], one file per model input' },
      output: { kind: 'path', placeholder: 'Y.npy', help: 'where the model output goes (float32)' },
      batch: { kind: 'posint', placeholder: 'N', help: 'samples per run of the plan (default 256)' },
      activations: { kind: 'path', placeholder: 'DIR', help: "also write every layer's output and every quantized layer's binarized input here" },
      layers: layersOption,
      preprocess: preprocessOption,
      'allow-nan': allowNanOption,
      image: { kind: 'input', placeholder: 'PHOTO', help: 'classify a JPEG or PNG photo instead of --input' },
      chart: { kind: 'path', placeholder: 'OUT.png', help: "with --image: a bar chart of the class probabilities" },
    },
    run: predictCommand,
  },
  {
    name: 'export',
    summary: 'weights as inference uses them (binarized kernels int8 +-1, Keras layout), the folded BatchNorm thresholds, and activations for inputs: .npy files + manifest.json',
    options: {
      model: modelOption,
      out: { kind: 'path', placeholder: 'DIR', help: 'where the .npy files and manifest.json go' },
      activations: { kind: 'input', placeholder: 'X.npy', help: "also export every layer's activations for these inputs (float32 [N, ...input shape])" },
      preprocess: preprocessOption,
      'allow-nan': allowNanOption,
      layers: layersOption,
    },
    run: exportCommand,
  },
];
