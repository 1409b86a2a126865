// `bnn kernels`: kernel reuse analysis (BinaryNet's filter repetitions) of conv kernels (.npy
// files, models' binary conv layers) and generated weights; needs no GPU unless --choose.
import { Gpu } from '../gpu/context.js';
import { UsageError, positiveInt, type Command, type Flags } from './flags.js';
import type { QuantConv2DConfig } from '../model/layer-config.js';

async function kernelsCommand(flags: Flags): Promise<void> {
  const { basename } = await import('node:path');
  const { readNpy } = await import('../io/npy.js');
  const { readFileBounded } = await import('../io/read-bounded.js');
  const { Random } = await import('../random.js');
  const kr = await import('../analysis/kernel-reuse.js');
  const layout = (flags.values.get('layout') ?? 'hwio') as 'hwio' | 'ohwi';
  const seed = Number(flags.values.get('seed') ?? '1');

  const layers: import('../analysis/kernel-reuse.js').KernelLayer[] = [];
  // --choose: the binary-input 3x3 layers of models, for chooseConvPath on this device.
  const convs: ConvToChoose[] = [];
  for (const file of flags.positional.slice(1)) {
    if (file.endsWith('.json') || !file.endsWith('.npy')) {
      // A model: every binary conv layer (kernel quantizer with +-1 output), kernels as stored.
      const { loadModel } = await import('../io/model-files.js');
      const { kindOf } = await import('../layers/index.js');
      const { binaryKernel, quantizersOf } = await import('../layers/traits.js');
      const model = await loadModel(file);
      const before = layers.length;
      const shapes = new Map<string, number[]>(model.layers.map((l) => [l.name, l.outputShape]));
      for (const layer of model.layers) {
        if (kindOf(layer).product !== 'conv' || !binaryKernel(layer)) continue;
        const l = layer as typeof layer & { config: QuantConv2DConfig };
        const w = model.weight(`${l.name}/kernel`);
        const [KH, KW, I, O] = w.shape;
        const weights = kr.hwioToOhwi(w.data, [KH, KW, I, O]);
        layers.push({ name: l.name, weights, shape: [O, KH, KW, I], positions: l.outputShape[0] * l.outputShape[1] });
        const inShape = l.inbound.length ? shapes.get(l.inbound[0]) : model.spec.inputs.find((i) => i.name === l.name)?.shape;
        if (quantizersOf(l).input?.binary && KH === 3 && KW === 3 && inShape) {
          convs.push({ name: l.name, weights, shape: [O, KH, KW, I], inShape, window: { strides: l.config.strides, padding: l.config.padding, dilation: l.config.dilation_rate, padValues: l.config.pad_values as 0 | 1 } });
        }
      }
      if (layers.length === before) throw new UsageError(`${file}: no QuantConv2D layer with a binary kernel quantizer`);
      continue;
    }
    try {
      layers.push(kr.kernelLayerFromNpy(readNpy(await readFileBounded(file, { maxBytes: 2 ** 30 })), basename(file).replace(/\.npy$/, ''), layout));
    } catch (err) {
      throw new UsageError(`${file}: ${(err as Error).message}`); // unreadable, not npy, or not a conv kernel
    }
  }
  const rng = new Random(seed);
  for (const spec of (flags.values.get('random') ?? '').split(',').filter((x) => x.trim() !== '')) {
    const m = /^(\d+)x(\d+)(?:@([0-9.]+))?$/.exec(spec.trim().toLowerCase());
    const [O, I] = [Number(m?.[1]), Number(m?.[2])];
    const ratio = m?.[3] === undefined ? undefined : Number(m[3]);
    if (!m || O < 1 || I < 1 || (ratio !== undefined && !(ratio > 0 && ratio <= 1))) {
      throw new UsageError(`bad --random '${spec}': write OxI or OxI@R with positive integers and 0 < R <= 1, e.g. 128x128@0.42`);
    }
    const shape = [O, 3, 3, I] as const;
    const weights = ratio === undefined ? rng.floats(O * 9 * I) : kr.redundantWeights(rng, shape, ratio);
    layers.push({ name: `random ${spec.trim()}`, weights, shape });
  }
  if (layers.length === 0) throw new UsageError('kernels needs .npy files or --random OxI[@R]');

  const report = kr.analyzeKernelReuse(layers);
  const chosen = flags.switches.has('choose') ? await chooseConvPaths(convs, positiveInt(flags, 'batch') ?? 1) : undefined;
  if (flags.switches.has('json')) return console.log(JSON.stringify(chosen ? { ...report, chosen } : report, null, 2));
  console.log(kr.formatKernelReuseReport(report, { verbose: flags.switches.has('verbose') }));
  if (flags.values.has('random')) console.log(`\n(--random weights from seed ${seed})`);
  if (chosen) {
    console.log(`\nThe path chooseConvPath (InferencePlan's convPath 'auto') takes for each binary-input 3x3 layer, batch ${chosen.batch}, on ${chosen.device}:`);
    for (const c of chosen.layers) console.log(`  ${c.name.padEnd(24)} ${c.path.padEnd(6)}  ${c.reason}`);
  }
}

interface ConvToChoose {
  name: string;
  weights: Float32Array;
  shape: [number, number, number, number];
  inShape: number[];
  window: { strides: [number, number]; padding: 'valid' | 'same'; dilation: [number, number]; padValues: 0 | 1 };
}

/** chooseConvPath on this device for each layer's binarized weights: the path and the timings it chose by. */
async function chooseConvPaths(convs: ConvToChoose[], batch: number) {
  if (convs.length === 0) throw new UsageError('--choose needs a model with binary-input 3x3 QuantConv2D layers');
  const { packRows } = await import('../bitpack.js');
  const { convPathChoice } = await import('../ops/conv-path.js');
  const gpu = await Gpu.create({ log: (line) => console.error(line) });
  try {
    const layers = [];
    for (const c of convs) {
      const [O, KH, KW, I] = c.shape;
      const w = gpu.upload(packRows(c.weights, O * KH * KW, I), c.shape, 'b1', `${c.name}/kernel`);
      try {
        const choice = await convPathChoice(gpu, [batch, ...c.inShape], w, { ...c.window, remeasure: true });
        layers.push({ name: c.name, path: choice.path, packedMs: choice.packedMs, reuseMs: choice.reuseMs, reason: choice.reason });
      } finally {
        w.release();
      }
    }
    return { device: gpu.describe(), batch, layers };
  } finally {
    gpu.destroy();
  }
}

export const KERNELS_COMMAND: Command = {
  name: 'kernels',
  args: 'FILE...',
  positionals: { min: 0, max: Infinity },
  summary: 'kernel reuse analysis: per layer and input channel, the share of distinct KHxKW sign patterns and the work reuse saves',
  details: `FILE.npy: one conv kernel per file (float32/float64/int8), named by its file name.

MODEL.json: every QuantConv2D with a binary kernel quantizer of a model (or its directory).`,
  options: {
    layout: { kind: 'text', choices: ['hwio', 'ohwi'], help: "axis order of the .npy arrays: hwio [KH,KW,I,O] (default: Keras's layer.get_weights()[0]) or ohwi [O,KH,KW,I]" },
    random: { kind: 'text', list: true, placeholder: 'OxI[@R],...', help: 'also analyse generated 3x3 weights: O outputs, I inputs, distinct ratio R per input channel (without @R: random signs)' },
    seed: { kind: 'count', placeholder: 'N', help: 'seed of --random (default 1)' },
    verbose: { kind: 'switch', help: 'also list every input channel' },
    json: { kind: 'switch', help: 'print the report as JSON' },
    choose: { kind: 'switch', help: "also time, on this device, the path InferencePlan's convPath 'auto' takes for each binary-input 3x3 layer of a model" },
    batch: { kind: 'posint', placeholder: 'N', help: 'batch of --choose (default 1)' },
  },
  run: kernelsCommand,
};
