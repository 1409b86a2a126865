#!/usr/bin/env node
// The `bnn` command: adapter info, benchmarks (Node or headless Chromium), and the demo.
import { writeFileSync } from 'node:fs';
import { UsageError, parse, positiveInt, type Flags } from './flags.js';
import { benchAllCommand, benchCompareCommand } from './bench-all.js';
import { exportCommand, predictCommand, summaryCommand } from './model-commands.js';
import { CONVERT_USAGE, convertCommand } from './convert.js';
import { demoTraining, evalCommand, trainCommand } from './train-commands.js';
import { Gpu } from '../gpu/context.js';
import { DEFAULT_GEMM_SHAPES, type GemmShape } from '../../bench/gemm.js';
import { SUITES, isSuiteName, type SuiteName, type SuiteOptions, type SuiteReport } from '../../bench/suites.js';

const USAGE = `usage: bnn <command> [options]

commands:
  info [--json]                 the WebGPU adapter this machine gives, its features and limits
  bench all [options]           every suite (gemm, lowbit, conv, mlp, models, train), each beside fp32 (and TF.js), in
                                headless Chromium; writes report.json, report.html (charts), report.md
      --node                    run in Node (Dawn) instead of Chromium
      --out DIR                 where (default bench/results/DATE-DEVICE-ENV)
      --suites a,b              only these suites      --quick   tiny shapes, 1 repetition (checks the harness)
      --reps N --warmup N --no-tfjs --large
  bench compare A.json B.json   per case: the change in binary and fp32 medians and speed-ups between two runs
  bench gemm [options]          binary XNOR-popcount GEMM vs fp32 GEMM, same device, same run
      --shapes MxNxK,...        shapes (default ${DEFAULT_GEMM_SHAPES.map((s) => s.join('x')).join(',')})
      --large                   also run shapes too slow for a software adapter (skipped there by default)
      --reps N --warmup N       timed repetitions (median reported) and warm-up runs
      --browser                 run in headless Chromium (puppeteer-core, system Chromium) instead of Node
      --no-tfjs                 skip TensorFlow.js's WebGPU matMul (timed beside them when installed)
      --json                    print the report as JSON      --out FILE   also write the JSON report to FILE
  bench lowbit [--shapes MxNxK,...] [--reps N] [--large] [--browser] [--json] [--out FILE]
                                ternary (TWN) and DoReFa bit-serial GEMMs (2/2 bits, 1-bit weights x 3-bit
                                activations) and binary XNOR vs fp32, same run (default 1024^3, MNIST CNN layers)
  bench models [--models a,b] [--batch N] [--reps N] [--browser] [--json] [--out FILE]
                                the binarized VGG16 and FINN's CNV (CIFAR-10, random weights): images/s of the
                                binary plan, the fp32 plan and TF.js, checked against the CPU reference first;
                                --models mnist-cnn-binary,mnist-cnn-xnor,mnist-cnn-ternary,mnist-cnn-dorefa: the
                                seeds' MNIST CNN in issue 8's schemes, each on its own kernels (default vgg16,cnv)
  bench conv [--batch N] [--reps N] [--browser] [--json] [--out FILE]
                                binary conv vs fp32 implicit-GEMM conv on the seeds' 3x3 layers (VGG16, BinaryNet)
  bench first-layer [--batch N] [--reps N] [--browser] [--json] [--out FILE]
                                8-bit pixels x binary weights on the seeds' first layers (CIFAR-10 3->64 3x3,
                                MNIST 1->32 5x5; batch 8): sign-select vs bit planes, checked then timed
  bench train [--batch N] [--reps N] [--rounds N] [--backward table|select] [--profile] [--browser] [--json] [--out FILE]
                                one training step of the seed MLP (+BN, Adam): binary kernels vs a float
                                simulation through the fp32 kernels, same run: samples/s, memory per sample
  bench gemm-variants [--shapes MxNxK] [--reps N]
                                each tuning variant of the binary and fp32 GEMM, checked then timed
  bench conv-reuse [options]    kernel-reuse path vs packed bconv2d (i32) on the seeds' 3x3 layers, weights
                                with 100%, 42%, 10% distinct patterns per input channel; checked equal, then timed
      --shapes CxOxH[xW],...    layers (default: VGG16 and BinaryNet CIFAR-10 layers)
      --ratios R,...            unique ratios (default 1,0.42,0.1)   --batch N (default 1)   --reps N
      --json                    print the report as JSON      --out FILE   also write the JSON report to FILE
  kernels FILE... [options]     kernel reuse analysis (BinaryNet's filter repetitions): per layer and input
                                channel, the share of distinct KHxKW sign patterns and the work reuse saves
      FILE.npy                  one conv kernel per file (float32/float64/int8), named by its file name
      --layout hwio|ohwi        axis order of the .npy arrays: hwio [KH,KW,I,O] (default: what Keras/Larq's
                                layer.get_weights()[0] gives, saved with np.save) or ohwi [O,KH,KW,I]
      --random OxI[@R],...      also analyse generated 3x3 weights: O outputs, I inputs, unique ratio R per
                                input channel (without @R: independent random signs), e.g. 128x128@0.42
      --seed N                  seed of --random (default 1)
      --verbose                 also list every input channel      --json   print the report as JSON
      MODEL.json                every QuantConv2D with a binary kernel quantizer of a model (or its directory)
      --choose [--batch N]      also time, on this device, the path InferencePlan's convPath 'auto' takes for
                                each binary-input 3x3 layer with its weights (packed bconv2d or kernel reuse)
  summary MODEL [--json]        per layer: output shape, input bits, parameters by bit width, memory, MACs;
                                totals and the saving against float32 (as larq.models.summary); MODEL may
                                name a zoo model: mnist-mlp, mnist-cnn, cifar10-vgg16, cifar10-vgg16-float, cifar10-cnv
  predict --model MODEL --input X.npy --output Y.npy [--batch N] [--activations DIR [--layers a,b]]
                                runs the compiled plan: X float32 [N, ...input shape] (several inputs:
                                a.npy,b.npy), Y the model output as float32; --activations writes each
                                layer's output and each quantized layer's binarized input (name.input.npy;
                                binary tensors as int8 +-1), or only --layers (names, or layer:input);
                                inputs holding NaN are refused (--allow-nan runs them anyway)
  predict --model MODEL --image PHOTO [--chart OUT.png]
                                a JPEG/PNG photo's centre square reduced to the model's input (area average;
                                32x32 RGB for CIFAR-10 models, 28x28 gray for MNIST's), preprocessed as the model
                                was trained (MODEL's preprocessing.json): the class probabilities, top-1 starred;
                                --chart draws them as a bar chart PNG
  export --model MODEL --out DIR [--activations X.npy [--layers a,b]]
                                weights as inference uses them (binarized kernels int8 +-1, Keras layout),
                                the folded BatchNorm thresholds, activations for X; .npy files + manifest.json
                                MODEL: a TF.js Layers model.json (or its directory), or a Keras .h5 / .keras
                                file; Larq layer classes
${CONVERT_USAGE}
  train mnist-mlp|mnist-mlp-bn|mnist-cnn|cifar10-vgg16|cifar10-cnv [--quant binary|xnor|ternary|dorefa] [--gradient-bits K] [--epochs N] [--batch N] [--lr X] [--seed N] [--optimizer adam|sgd|shift_adamax|bop]
        [--schedule constant|exponential|cosine] [--decay-rate R] [--lr-scale none|binarynet]
        [--limit N] [--out DIR] [--recalibrate-bn] [--shift-bn] [--stochastic] [--resume]
                                trains the seed MLP (as written, or with BatchNorm before its softmax) or the
                                seeds' MNIST CNN (--quant: BinaryNet, XNOR-Net, TWN, DoReFa 1/3-bit; --gradient-bits K:
                                DoReFa-Net's K-bit gradients after each conv/dense layer) on MNIST
                                on the GPU: progress, test top-1/top-5 each epoch, the model saved (models/NAME);
                                --recalibrate-bn re-estimates BatchNorm's moving statistics after each epoch;
                                Adam's default lr: 0.001 (mnist-mlp, Larq's example), 0.003 (mnist-mlp-bn, BinaryNet's);
                                bop: Larq's Bop flips the binary kernels, Adam (--lr, default 0.01) the rest;
                                --schedule: cosine over the run's steps, or exponential (--decay-rate an epoch, 0.9);
                                --lr-scale binarynet: binary kernels' rates times 1/sqrt(1.5/(fan_in+fan_out))
                                --shift-bn: BinaryNet's shift-based BatchNorm (powers of two); --stochastic:
                                BinaryNet's stochastic binarization of activations while training
                                a checkpoint (DIR/checkpoint) after every epoch; --resume continues from it
                                cifar10-vgg16 (the seed's binarized VGG16) and cifar10-cnv (FINN's CNV): Adam 0.02,
                                batch 100; random crops (padding 4) and flips on the GPU (--no-augment: off);
                                inputs (x/255 - mean) / std: VGG16 CIFAR-10's channel statistics, CNV 2x/255 - 1
                                (--mean a,b,c --std a,b,c); --test-limit N evaluates on the first N test images;
                                CIFAR-10 from --data-dir DIR (default ./.data): DIR/cifar10/cifar-10-batches-bin/
                                (the official binary version), else ../shared/data/cifar10/cifar10-jpeg.tar.gz
                                unpacked and decoded once (cached as DIR/cifar10/cifar10-jpeg-SPLIT.bin)
  eval --model MODEL [--data mnist|cifar10] [--limit N] [--data-dir DIR]
                                top-1 / top-5 / loss and the confusion matrix on the test set (the model's data
                                set, from its preprocessing.json) through the compiled plan
  demo                          the main job: adapter info, the GEMM benchmark (default shapes), the seed
                                MLP's compiled binary plan against the same model through fp32 kernels, one
                                training step on the binary kernels against the float simulation, then
                                mnist-mlp-bn trained one epoch on the GPU (models/demo-mnist-mlp-bn), evaluated,
                                and the first test digits classified through bnn predict
  help                          this text
`;

function parseShapes(text: string): GemmShape[] {
  return text.split(',').map((s) => {
    const dims = s.trim().toLowerCase().split('x').map(Number);
    if (dims.length !== 3 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new UsageError(`bad shape '${s}': write MxNxK with positive integers, e.g. 300x512x784`);
    }
    return dims as unknown as GemmShape;
  });
}

async function info(flags: Flags): Promise<void> {
  const gpu = await Gpu.create({ log: null });
  try {
    const limits: Record<string, number> = {};
    for (const key of [
      'maxStorageBufferBindingSize',
      'maxBufferSize',
      'maxComputeWorkgroupStorageSize',
      'maxComputeInvocationsPerWorkgroup',
      'maxComputeWorkgroupSizeX',
      'maxComputeWorkgroupsPerDimension',
    ]) {
      limits[key] = (gpu.limits as unknown as Record<string, number>)[key];
    }
    const report = { adapter: gpu.adapter, name: gpu.describe(), features: gpu.features, limits };
    if (flags.switches.has('json')) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    console.log(`adapter:  ${report.name}`);
    console.log(`features: ${Object.entries(gpu.features).map(([k, v]) => `${k} ${v ? 'yes' : 'no'}`).join(', ')}`);
    for (const [k, v] of Object.entries(limits)) console.log(`${k.padEnd(36)} ${v}`);
  } finally {
    gpu.destroy();
  }
}

async function benchSuiteCommand(name: SuiteName, flags: Flags): Promise<void> {
  const json = flags.switches.has('json');
  const options: SuiteOptions = {
    shapes: flags.values.has('shapes') ? parseShapes(flags.values.get('shapes')!) : undefined,
    large: flags.switches.has('large'),
    reps: positiveInt(flags, 'reps'),
    warmup: flags.values.has('warmup') ? Number(flags.values.get('warmup')) : undefined,
    batch: positiveInt(flags, 'batch'),
    tfjs: !flags.switches.has('no-tfjs'),
    rounds: positiveInt(flags, 'rounds'),
    profile: flags.switches.has('profile'),
    backwardMethod: flags.values.has('backward') ? (flags.values.get('backward') as 'table' | 'select') : undefined,
    models: flags.values.has('models') ? (flags.values.get('models')!.split(',') as SuiteOptions['models']) : undefined,
  };
  const progress = (line: string) => console.error(line);
  let report: SuiteReport;
  if (flags.switches.has('browser')) {
    const { benchInBrowser } = await import('../../bench/browser.js');
    report = await benchInBrowser(name, options, progress);
  } else {
    const gpu = await Gpu.create({ log: progress });
    try {
      report = await SUITES[name].run(gpu, { ...options, onProgress: progress });
    } finally {
      gpu.destroy();
    }
  }
  const out = flags.values.get('out');
  if (out) writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  console.log(json ? JSON.stringify(report, null, 2) : SUITES[name].markdown(report));
}

async function benchVariantsCommand(flags: Flags): Promise<void> {
  const { benchGemmVariants } = await import('../../bench/gemm-variants.js');
  const [shape] = flags.values.has('shapes') ? parseShapes(flags.values.get('shapes')!) : [[512, 512, 512] as const];
  const gpu = await Gpu.create({ log: (line) => console.error(line) });
  try {
    const r = await benchGemmVariants(gpu, shape, { reps: positiveInt(flags, 'reps'), onProgress: (line) => console.error(line) });
    if (flags.switches.has('json')) return console.log(JSON.stringify(r, null, 2));
    console.log(`Device: ${r.adapterName}; shape ${shape.join(' x ')}\n`);
    console.log('| kind | variant | ms (median) | G-ops/s |\n|---|---|---:|---:|');
    for (const x of r.rows) console.log(`| ${x.kind} | ${x.variant} | ${x.medianMs.toFixed(1)} | ${x.rate.toFixed(3)} |`);
  } finally {
    gpu.destroy();
  }
}

async function benchConvReuseCommand(flags: Flags): Promise<void> {
  const { benchConvReuse, convReuseMarkdown } = await import('../../bench/conv-reuse.js');
  const shapes = flags.values.get('shapes')?.split(',').map((text) => {
    const dims = text.trim().toLowerCase().split('x').map(Number);
    if ((dims.length !== 3 && dims.length !== 4) || dims.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new UsageError(`bad shape '${text}': write CxOxH or CxOxHxW (input channels, output channels, input size), e.g. 128x128x16`);
    }
    const [C, O, H, W = H] = dims;
    return { name: `${C}->${O}`, C, O, H, W };
  });
  const ratios = flags.values.get('ratios')?.split(',').map((text) => {
    const r = Number(text);
    if (!(r > 0 && r <= 1)) throw new UsageError(`bad ratio '${text}': write numbers in (0, 1], e.g. 1,0.42,0.1`);
    return r;
  });
  const progress = (line: string) => console.error(line);
  const gpu = await Gpu.create({ log: progress });
  try {
    const report = await benchConvReuse(gpu, { shapes, ratios, batch: positiveInt(flags, 'batch'), reps: positiveInt(flags, 'reps'), onProgress: progress });
    const out = flags.values.get('out');
    if (out) writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
    console.log(flags.switches.has('json') ? JSON.stringify(report, null, 2) : convReuseMarkdown(report));
  } finally {
    gpu.destroy();
  }
}

// Kernel reuse analysis of conv kernels (.npy files, models' binary conv layers) and generated weights; needs no GPU.
async function kernelsCommand(flags: Flags): Promise<void> {
  const { basename } = await import('node:path');
  const { readNpy } = await import('../io/npy.js');
  const { readFileBounded } = await import('../io/read-bounded.js');
  const { Random } = await import('../random.js');
  const kr = await import('../analysis/kernel-reuse.js');
  const layout = flags.values.get('layout') ?? 'hwio';
  if (layout !== 'hwio' && layout !== 'ohwi') throw new UsageError(`--layout must be hwio or ohwi, got '${layout}'`);
  const seedText = flags.values.get('seed') ?? '1';
  const seed = Number(seedText);
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed must be a non-negative integer, got '${seedText}'`);

  const layers: import('../analysis/kernel-reuse.js').KernelLayer[] = [];
  // --choose: the binary-input 3x3 layers of models, for chooseConvPath on this device.
  const convs: ConvToChoose[] = [];
  for (const file of flags.positional.slice(1)) {
    if (file.endsWith('.json') || !file.endsWith('.npy')) {
      // A model: every binary conv layer (kernel quantizer with +-1 output), kernels as stored.
      const { loadModel } = await import('../io/model-files.js');
      const { getQuantizer } = await import('../model/quantizers.js');
      const model = await loadModel(file);
      const before = layers.length;
      const shapes = new Map<string, number[]>(model.layers.map((l) => [l.name, l.outputShape]));
      for (const l of model.layers) {
        if (l.class !== 'QuantConv2D' || !getQuantizer(l.config.kernel_quantizer)?.binary) continue;
        const w = model.weight(`${l.name}/kernel`);
        const [KH, KW, I, O] = w.shape;
        const weights = kr.hwioToOhwi(w.data, [KH, KW, I, O]);
        layers.push({ name: l.name, weights, shape: [O, KH, KW, I], positions: l.outputShape[0] * l.outputShape[1] });
        const inShape = l.inbound.length ? shapes.get(l.inbound[0]) : model.spec.inputs.find((i) => i.name === l.name)?.shape;
        if (getQuantizer(l.config.input_quantizer)?.binary && KH === 3 && KW === 3 && inShape) {
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

async function main(argv: string[]): Promise<void> {
  const flags = parse(argv);
  const [command, sub] = flags.positional;
  switch (command) {
    case 'info':
      return info(flags);
    case 'bench':
      if (sub === 'all') return benchAllCommand(flags);
      if (sub === 'compare') return benchCompareCommand(flags);
      if (isSuiteName(sub)) return benchSuiteCommand(sub, flags);
      if (sub === 'gemm-variants') return benchVariantsCommand(flags);
      if (sub === 'conv-reuse') return benchConvReuseCommand(flags);
      throw new UsageError(sub ? `no benchmark named '${sub}' (there are: all, compare, ${Object.keys(SUITES).join(', ')}, gemm-variants, conv-reuse)` : 'bench needs a benchmark name: bnn bench gemm');
    case 'kernels':
      return kernelsCommand(flags);
    case 'summary':
      return summaryCommand(flags);
    case 'predict':
      return predictCommand(flags);
    case 'export':
      return exportCommand(flags);
    case 'convert':
      return convertCommand(flags);
    case 'train':
      return trainCommand(flags);
    case 'eval':
      return evalCommand(flags);
    case 'demo':
      await info(flags);
      console.log('');
      await benchSuiteCommand('gemm', flags);
      console.log('');
      await benchSuiteCommand('mlp', flags);
      console.log('');
      await benchSuiteCommand('train', flags);
      console.log('');
      return demoTraining((args) => main(args));
    case undefined:
    case 'help':
      console.log(USAGE);
      return;
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0), // Dawn's instance keeps the process alive otherwise
  (err: unknown) => {
    if (err instanceof UsageError) console.error(`bnn: ${err.message}\n\n${USAGE}`);
    else console.error(`bnn: ${(err as Error).stack ?? err}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
