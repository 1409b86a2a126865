// The first layer's convolutions (src/ops/first-layer.ts) against their CPU references, from one
// table: each case runs signSelectConv2d on random floats (stated bound) and on integer pixels
// (exact), and bitPlaneConv2d in both bit orders (exact), in several GEMM tunings, outputs
// poisoned first. Also: the two methods agree exactly on pixels, the bit-plane identity, errors.
import { describe, expect, test } from 'vitest';
import { packRows, popcount, wordsPerRow } from '../src/bitpack.js';
import { ShapeError } from '../src/gpu/errors.js';
import {
  bitPlaneConv2d,
  bitPlaneConv2dReference,
  defaultFirstLayerMethod,
  firstLayerConv2d,
  firstLayerConv2dReference,
  signSelectConv2d,
  type FirstLayerWindow,
} from '../src/ops/first-layer.js';
import { conv2dGeometry } from '../src/ops/bconv2d.js';
import type { GemmTuning } from '../src/ops/gemm-tiling.js';
import type { Tensor } from '../src/tensor.js';
import { expectClose, expectExact } from './helpers/check.js';
import { poisoned, useGpu } from './helpers/gpu.js';
import { randomBits, rngFor, seedNote, type Random } from './helpers/random.js';

const gpu = useGpu();
const U = 2 ** -24; // unit roundoff of f32

interface ConvCase {
  name: string;
  /** Input NHWC. */
  x: [number, number, number, number];
  /** Output channels, kernel height and width. */
  k: [number, number, number];
  window: FirstLayerWindow;
}

const CASES: ConvCase[] = [
  { name: "seed CIFAR-10 first layer 3->64 3x3 'same', batch 2", x: [2, 8, 8, 3], k: [64, 3, 3], window: { padding: 'same' } },
  { name: "seed MNIST first layer 1->32 5x5 'valid', batch 2", x: [2, 12, 12, 1], k: [32, 5, 5], window: {} },
  { name: "1->32 5x5 'same'", x: [1, 12, 12, 1], k: [32, 5, 5], window: { padding: 'same' } },
  { name: "stride 2, odd sizes, 'same'", x: [2, 9, 7, 3], k: [5, 3, 3], window: { strides: 2, padding: 'same' } },
  { name: "strides [2, 1], 3x5 kernel, 'valid', odd sizes", x: [1, 11, 13, 2], k: [7, 3, 5], window: { strides: [2, 1] } },
  { name: "dilation 2, 'same'", x: [1, 10, 10, 3], k: [9, 3, 3], window: { dilation: 2, padding: 'same' } },
  { name: 'C = 40: two channel words per tap', x: [1, 6, 6, 40], k: [10, 3, 3], window: { padding: 'same' } },
  { name: '1x1 kernel, C = 33', x: [2, 5, 5, 33], k: [3, 1, 1], window: {} },
  { name: 'M and O past one tile', x: [1, 20, 20, 3], k: [70, 3, 3], window: { padding: 'same' } },
];

/** The binaryFloat GEMM tunings: the default, both read paths, an odd tile with tileK 3. */
const TUNINGS: [string, GemmTuning | undefined][] = [
  ['default tuning', undefined],
  ['8x8 storage reads', { wgX: 8, wgY: 8, tileK: 1, useWorkgroupTiles: false }],
  ['8x8 workgroup tiles', { wgX: 8, wgY: 8, tileK: 1, useWorkgroupTiles: true }],
  ['4x2 tileK 3 storage reads', { wgX: 4, wgY: 2, tileK: 3, useWorkgroupTiles: false }],
  ['4x2 tileK 3 workgroup tiles', { wgX: 4, wgY: 2, tileK: 3, useWorkgroupTiles: true }],
];

/** Host inputs of a case: float and pixel inputs, packed weights, and what the ops must give. */
interface Inputs {
  floats: Float32Array;
  pixels: Float32Array;
  w: Uint32Array;
  kShape: number[];
  outShape: number[];
}

function inputs(rng: Random, c: ConvCase): Inputs {
  const [N, H, W, C] = c.x;
  const [O, KH, KW] = c.k;
  const count = N * H * W * C;
  const floats = rng.floats(count, -2, 2);
  floats[0] = -0; // a negative zero and a zero: sign-select flips them to +-0, sums unchanged
  if (count > 1) floats[1] = 0;
  const pixels = Float32Array.from({ length: count }, () => rng.int(256));
  pixels[0] = 255; // the extremes, whatever the draw
  if (count > 1) pixels[count - 1] = 0;
  const g = conv2dGeometry(c.x, [O, KH, KW, C], c.window);
  return { floats, pixels, w: randomBits(rng, O * KH * KW, C), kShape: [O, KH, KW, C], outShape: [N, g.outH, g.outW, O] };
}

type Method = 'signSelect floats' | 'signSelect floats, windows' | 'signSelect pixels' | 'signSelect pixels, implicit' | 'bitPlane window' | 'bitPlane tap';
const METHODS: Method[] = ['signSelect floats', 'signSelect floats, windows', 'signSelect pixels', 'signSelect pixels, implicit', 'bitPlane window', 'bitPlane tap'];

// Tolerances: bit planes and sign-select on integers are exact (every partial sum is an integer
// below 2^24). Sign-select on floats: terms are +-x exactly (a sign flip), so only the K-term sum
// rounds, gamma_K * sum|x| over the window, plus the reference's one rounding; doubled for headroom.
describe.each(METHODS)('%s', (method) => {
  const cases = CASES.flatMap((c) => TUNINGS.map(([tname, tuning]) => [`${c.name}, ${tname}`, c, tuning] as const));
  test.each(cases)('%s', async (name, c, tuning) => {
    const g = gpu();
    const what = `${method}: ${name} [${seedNote()}]`;
    const h = inputs(rngFor(name), c);
    const floats = method.startsWith('signSelect floats');
    const xs = floats ? h.floats : h.pixels;
    const x = g.upload(xs, c.x, 'f32', 'x');
    const w = g.upload(h.w, h.kShape, 'b1', 'w');
    const out = poisoned(g, h.outShape, 'f32', 'out');
    try {
      const options = { ...c.window, out, tuning };
      // Sign-select's lowerings: the default for the case's channel count, and each forced.
      const lowering = method.endsWith('windows') ? 'windows' : method.endsWith('implicit') ? 'implicit' : undefined;
      const result = method.startsWith('signSelect')
        ? await signSelectConv2d(g, x, w, { ...options, lowering })
        : await bitPlaneConv2d(g, x, w, { ...options, packing: method === 'bitPlane tap' ? 'tap' : 'window' });
      expect(result === out, `${what}: the op must write into the given 'out'`).toBe(true);
      const got = await out.read();
      const want = firstLayerConv2dReference(xs, c.x, h.w, h.kShape, c.window);
      const cols = c.k[0];
      if (floats) {
        const K = c.k[1] * c.k[2] * c.x[3];
        const ones = new Uint32Array(h.w.length); // all +1: the window sums of |x|
        const absSums = firstLayerConv2dReference(xs.map(Math.abs), c.x, ones, h.kShape, c.window);
        expectClose(got, want, Float64Array.from(absSums, (s) => 2 * (K + 1) * U * s), what, { cols });
      } else {
        expectExact(got, want, what, { cols });
      }
    } finally {
      for (const t of [x, w, out]) t.release();
    }
  });
});

describe('the two methods and the two references agree exactly on pixels', () => {
  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (name, c) => {
    const g = gpu();
    const what = `${name} [${seedNote()}]`;
    const h = inputs(rngFor(`agree ${name}`), c);
    const plain = firstLayerConv2dReference(h.pixels, c.x, h.w, h.kShape, c.window);
    expectExact(bitPlaneConv2dReference(h.pixels, c.x, h.w, h.kShape, c.window), plain, `${what}: bit-plane reference vs plain reference`);
    const x = g.upload(h.pixels, c.x, 'f32', 'x');
    const w = g.upload(h.w, h.kShape, 'b1', 'w');
    const outs: Tensor[] = [];
    try {
      outs.push(await signSelectConv2d(g, x, w, c.window), await bitPlaneConv2d(g, x, w, c.window), await firstLayerConv2d(g, x, w, c.window));
      const [s, b, f] = await Promise.all(outs.map((t) => t.read()));
      expectExact(b, s, `${what}: bitPlaneConv2d vs signSelectConv2d`, { cols: c.k[0] });
      expectExact(f, s, `${what}: firstLayerConv2d (${defaultFirstLayerMethod(g)}) vs signSelectConv2d`, { cols: c.k[0] });
    } finally {
      for (const t of [x, w, ...outs]) t.release();
    }
  });
});

test('the bit-plane identity: {0,1} x {+-1} dot = AND-popcount = XNOR-popcount with a per-filter correction', () => {
  const rng = rngFor('identity');
  for (let trial = 0; trial < 2000; trial++) {
    const n = 1 + rng.int(32); // values in the word
    const mask = n === 32 ? 0xffffffff : (1 << n) - 1;
    const p = ((rng.next() * 2 ** 32) >>> 0) & mask; // plane bits: p_c in {0, 1}
    const wb = ((rng.next() * 2 ** 32) >>> 0) & mask; // weight bits: 1 = -1
    let dot = 0;
    let wsum = 0;
    let xnor = 0; // the paper's XnorDotProduct of q = 1 - 2p (the plane read as +-1) with w
    for (let c = 0; c < n; c++) {
      const pc = (p >>> c) & 1;
      const wc = (wb >>> c) & 1 ? -1 : 1;
      dot += pc * wc;
      wsum += wc;
      xnor += (1 - 2 * pc) * wc;
    }
    const what = `p=${p.toString(16)} w=${wb.toString(16)} n=${n}`;
    expect(popcount(p & ~wb) - popcount(p & wb), what).toBe(dot);
    expect(popcount(p) - 2 * popcount(p & wb), what).toBe(dot);
    expect(popcount(p ^ wb) - popcount(wb), what).toBe(dot);
    expect((wsum - xnor) / 2, what).toBe(dot);
  }
});

describe('errors', () => {
  test('padValues is refused: a first layer pads with zeros', async () => {
    const g = gpu();
    const x = g.upload(new Float32Array(16 * 3), [1, 4, 4, 3], 'f32', 'x');
    const w = g.upload(new Uint32Array(2 * 9), [2, 3, 3, 3], 'b1', 'w');
    try {
      for (const op of [signSelectConv2d, bitPlaneConv2d, firstLayerConv2d]) {
        await expect(op(g, x, w, { padding: 'same', padValues: 1 } as never)).rejects.toThrow(/padValues does not apply to a first layer/);
      }
      await expect(bitPlaneConv2d(g, x, w, { packing: 'rows' as never })).rejects.toThrow(ShapeError);
      await expect(signSelectConv2d(g, w, w)).rejects.toThrow(/'x' must be f32/);
      await expect(bitPlaneConv2d(g, x, x)).rejects.toThrow(/'w' must be b1/);
    } finally {
      x.release();
      w.release();
    }
  });

  test('bitPlaneConv2d refuses windows whose sums could pass 2^24', async () => {
    const g = gpu();
    const C = 8192; // 3x3 taps: K = 73728, 255 K > 2^24
    const x = g.tensor([1, 3, 3, C], 'f32', 'x');
    const w = g.upload(packRows(new Float32Array(9 * C), 9, C), [1, 3, 3, C], 'b1', 'w');
    try {
      await expect(bitPlaneConv2d(g, x, w)).rejects.toThrow(/2\^24/);
      expect(wordsPerRow(C)).toBe(256);
    } finally {
      x.release();
      w.release();
    }
  });
});
