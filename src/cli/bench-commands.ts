// `bnn bench SUITE` (one suite in Node or headless Chromium), `bnn bench gemm-variants` and
// `bnn bench conv-reuse`: their options and what they run.
import { writeFileSync } from 'node:fs';
import { Gpu } from '../gpu/context.js';
import type { GemmShape } from '../../bench/gemm.js';
import { DEFAULT_GEMM_SHAPES } from '../../bench/gemm.js';
import { BENCH_MODELS } from '../../bench/models.js';
import { SUITES, type SuiteName, type SuiteOptions, type SuiteReport } from '../../bench/suites.js';
import { UsageError, positiveInt, type Command, type Flags, type OptionTable } from './flags.js';

export function parseShapes(text: string): GemmShape[] {
  return text.split(',').map((s) => {
    const dims = s.trim().toLowerCase().split('x').map(Number);
    if (dims.length !== 3 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new UsageError(`bad shape '${s}': write MxNxK with positive integers, e.g. 300x512x784`);
    }
    return dims as unknown as GemmShape;
  });
}

export async function benchSuiteCommand(name: SuiteName, flags: Flags): Promise<void> {
  const json = flags.switches.has('json');
  const options: SuiteOptions = {
    shapes: flags.values.has('shapes') ? parseShapes(flags.values.get('shapes')!) : undefined,
    large: flags.switches.has('large'),
    reps: positiveInt(flags, 'reps'),
    warmup: flags.values.has('warmup') ? Number(flags.values.get('warmup')) : undefined,
    batch: positiveInt(flags, 'batch'),
    tfjs: !flags.switches.has('no-tfjs'),
    ort: !flags.switches.has('no-ort'),
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


/** Options the bench commands share. */
export const BENCH_OPTIONS = {
  reps: { kind: 'posint', placeholder: 'N', help: 'timed repetitions (the median is reported)' },
  warmup: { kind: 'count', placeholder: 'N', help: 'untimed runs before the timed ones' },
  batch: { kind: 'posint', placeholder: 'N', help: 'images (or rows) per run' },
  rounds: { kind: 'posint', placeholder: 'N', help: 'rounds of the comparison (alternating binary and fp32)' },
  large: { kind: 'switch', help: 'also shapes too slow for a software adapter (skipped there by default)' },
  'no-tfjs': { kind: 'switch', help: "skip TensorFlow.js's WebGPU backend (timed beside ours when installed)" },
  'no-ort': { kind: 'switch', help: "skip ONNX Runtime Web's WebGPU EP (timed beside ours when installed)" },
  browser: { kind: 'switch', help: 'run in headless Chromium (puppeteer-core, system Chromium) instead of Node' },
  json: { kind: 'switch', help: 'print the report as JSON' },
  out: { kind: 'path', placeholder: 'FILE', help: 'also write the JSON report to FILE' },
  shapes: { kind: 'text', placeholder: 'MxNxK,...', help: 'GEMM shapes, e.g. 300x512x784,1024x1024x1024' },
} satisfies OptionTable;

const pick = <K extends keyof typeof BENCH_OPTIONS>(...keys: K[]): OptionTable => Object.fromEntries(keys.map((k) => [k, BENCH_OPTIONS[k]]));
const common = ['reps', 'warmup', 'browser', 'json', 'out'] as const;

/** Per suite: what it measures and the options it reads (SuiteOptions). */
const SUITE_COMMANDS: Record<SuiteName, { summary: string; options: OptionTable }> = {
  gemm: { summary: `binary XNOR-popcount GEMM against fp32 GEMM, same device, same run (default shapes ${DEFAULT_GEMM_SHAPES.map((s) => s.join('x')).join(', ')})`, options: pick(...common, 'shapes', 'large', 'no-tfjs') },
  lowbit: { summary: 'ternary (TWN) and DoReFa bit-serial GEMMs (2/2 bits, 1-bit weights x 3-bit activations) and binary XNOR against fp32, same run', options: pick(...common, 'shapes', 'large') },
  conv: { summary: 'binary convolution against fp32 implicit-GEMM convolution on the 3x3 layers of VGG16 and BinaryNet (CIFAR-10)', options: pick(...common, 'batch', 'no-tfjs', 'no-ort') },
  'first-layer': { summary: '8-bit pixels x binary weights on first layers (CIFAR-10 3->64 3x3, MNIST 1->32 5x5): sign-select against bit planes, checked then timed', options: pick(...common, 'batch') },
  mlp: { summary: "the MNIST MLP's compiled binary plan against the same model through fp32 kernels", options: pick(...common, 'rounds', 'no-tfjs', 'no-ort') },
  models: {
    summary: 'the binarized VGG16 and FINN\'s CNV (CIFAR-10, random weights): images/s of the binary plan, the fp32 plan, TF.js and ONNX Runtime Web, checked against the CPU reference first',
    options: { ...pick(...common, 'batch', 'rounds', 'no-tfjs', 'no-ort'), models: { kind: 'text', list: true, choices: Object.keys(BENCH_MODELS), placeholder: 'a,b', help: 'which models (default vgg16,cnv); mnist-cnn-*: the MNIST CNN in each quantization scheme; bireal: a Bi-Real Net 18 style binary ResNet (Add shortcuts)' } },
  },
  train: {
    summary: 'one training step of the MNIST MLP (+BN, Adam): binary kernels against a float simulation through the fp32 kernels: samples/s, memory per sample',
    options: { ...pick(...common, 'batch', 'rounds', 'no-tfjs'), backward: { kind: 'text', choices: ['table', 'select'], help: 'how the binary backward GEMM reads its weights' }, profile: { kind: 'switch', help: 'time each kernel of the step' } },
  },
};

export const BENCH_COMMANDS: Command[] = [
  ...(Object.keys(SUITE_COMMANDS) as SuiteName[]).map((name): Command => ({ name: `bench ${name}`, ...SUITE_COMMANDS[name], run: (flags) => benchSuiteCommand(name, flags) })),
  {
    name: 'bench gemm-variants',
    summary: 'each numbered tuning variant of the binary, fp32 and sign-select GEMMs, checked then timed',
    options: { shapes: { ...BENCH_OPTIONS.shapes, help: 'one shape (default 512x512x512)' }, reps: BENCH_OPTIONS.reps, json: BENCH_OPTIONS.json },
    run: benchVariantsCommand,
  },
  {
    name: 'bench conv-reuse',
    summary: 'the kernel-reuse path against packed bconv2d on 3x3 layers, weights with 100%, 42%, 10% distinct patterns per input channel; checked equal, then timed',
    options: {
      shapes: { kind: 'text', placeholder: 'CxOxH[xW],...', help: 'layers: input channels, output channels, input size (default: VGG16 and BinaryNet CIFAR-10 layers)' },
      ratios: { kind: 'text', placeholder: 'R,...', help: 'distinct-pattern ratios in (0, 1] (default 1,0.42,0.1)' },
      batch: { ...BENCH_OPTIONS.batch, help: 'images per run (default 1)' },
      reps: BENCH_OPTIONS.reps,
      json: BENCH_OPTIONS.json,
      out: BENCH_OPTIONS.out,
    },
    run: benchConvReuseCommand,
  },
];
