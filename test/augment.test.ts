// Augmentation on the GPU (shaders/augment.wgsl) against its CPU reference: random crop of the
// zero-padded image, horizontal flip, per-channel normalization; 8-bit and f32 images, odd batch
// sizes and image sizes, poisoned outputs; the training pipeline's ImageAugmenter and its seeding.
import { describe, expect, test } from 'vitest';
import { ImageAugmenter, augmentSeed } from '../src/data/augmenter.js';
import { CIFAR10_NORMALIZATION, SYMMETRIC_NORMALIZATION, augmentImages, augmentReference, drawAugmentations, identityAugmentations, normalizeImages, uploadPixels, type Normalization } from '../src/ops/augment.js';
import { Random } from '../src/random.js';
import { expectClose, expectExact } from './helpers/check.js';
import { poisoned, useGpu } from './helpers/gpu.js';

const gpu = useGpu();

/** The kernel may fuse v * scale - mean into one rounding: 2^-21 (1 + |want|) covers that (a few ulps). */
const tolerance = (want: Float32Array) => Float32Array.from(want, (w) => 2 ** -21 * (1 + Math.abs(w)));

const cases: [string, [number, number, number, number], 'u8' | 'f32', number, Normalization][] = [
  ['CIFAR-10 batch of 7, pad 4', [7, 32, 32, 3], 'u8', 4, CIFAR10_NORMALIZATION],
  ['one image', [1, 32, 32, 3], 'u8', 4, CIFAR10_NORMALIZATION],
  ['MNIST-like gray, pad 2', [3, 28, 28, 1], 'u8', 2, { scale: 1 / 255, mean: [0.1307], std: [0.3081] }],
  ['5x7 RGB (pixels not a multiple of 4), pad 3', [5, 5, 7, 3], 'u8', 3, SYMMETRIC_NORMALIZATION],
  ['pad larger than the image', [2, 3, 3, 2], 'u8', 5, { scale: 1, mean: [1, -2], std: [0.5, 4] }],
  ['no padding: flips only', [3, 8, 8, 3], 'u8', 0, CIFAR10_NORMALIZATION],
  ['f32 images', [5, 9, 6, 3], 'f32', 4, { scale: 1, mean: [0.1, 0.2, 0.3], std: [2, 3, 0.25] }],
];

describe('augmentImages', () => {
  test.each(cases)('%s: GPU = CPU reference, every value written', async (_, shape, format, pad, normalization) => {
    const g = gpu();
    const rng = new Random(shape.reduce((a, b) => a * 31 + b, pad));
    const count = shape.reduce((a, b) => a * b, 1);
    const pixels = format === 'u8' ? Uint8Array.from({ length: count }, () => rng.int(256)) : rng.floats(count, -3, 3);
    const choices = drawAugmentations(rng, shape[0], { pad });
    const data = format === 'u8' ? uploadPixels(g, pixels as Uint8Array) : g.upload(pixels as Float32Array, [count], 'f32', 'images');
    const ch = g.upload(choices, [shape[0]], 'u32', 'choices');
    const out = poisoned(g, shape, 'f32');
    await augmentImages(g, { data, format, shape }, ch, { pad, normalization, out });
    const want = augmentReference(pixels, shape, choices, { pad, normalization });
    expectClose((await out.read()) as Float32Array, want, tolerance(want), 'augmented', { cols: shape[3] });
    for (const t of [data, ch, out]) t.release();
  });

  test('a known image: crop offsets move it, the border is the normalized zero, the flip mirrors', async () => {
    const g = gpu();
    // One 2x3 gray image 1..6, pad 1: choices as dy | dx << 8 | flip << 16.
    const pixels = Uint8Array.of(1, 2, 3, 4, 5, 6);
    const norm = { scale: 1, mean: [0], std: [1] };
    const shape = [1, 2, 3, 1] as const;
    const run = async (choice: number) => {
      const out = await augmentImages(g, { data: uploadPixels(g, pixels), format: 'u8', shape }, g.upload(Uint32Array.of(choice), [1], 'u32'), { pad: 1, normalization: norm });
      return Array.from((await out.read()) as Float32Array);
    };
    expect(await run(1 | (1 << 8))).toEqual([1, 2, 3, 4, 5, 6]); // dy = dx = pad: unchanged
    expect(await run(1 | (1 << 8) | (1 << 16))).toEqual([3, 2, 1, 6, 5, 4]); // flipped
    expect(await run(0 | (2 << 8))).toEqual([0, 0, 0, 2, 3, 0]); // a row of border above, shifted left by one
    expect(augmentReference(pixels, shape, Uint32Array.of(2 | (0 << 8) | (1 << 16)), { pad: 1, normalization: norm })).toEqual(Float32Array.of(5, 4, 0, 0, 0, 0));
  });

  test('refuses wrong tensors, with the argument named', async () => {
    const g = gpu();
    const px = uploadPixels(g, new Uint8Array(12));
    const ch = g.upload(new Uint32Array(1), [1], 'u32');
    const normalization = CIFAR10_NORMALIZATION;
    await expect(augmentImages(g, { data: px, format: 'u8', shape: [2, 2, 2, 3] }, ch, { normalization })).rejects.toThrow(/need a u32 tensor of 6 words/);
    await expect(augmentImages(g, { data: px, format: 'u8', shape: [1, 2, 2, 3] }, ch, { normalization, pad: 200 })).rejects.toThrow(/pad must be an integer in 0..127/);
    await expect(augmentImages(g, { data: px, format: 'u8', shape: [1, 2, 2, 2] }, ch, { normalization })).rejects.toThrow(/mean has 3 values for 2 channels/);
    await expect(augmentImages(g, { data: px, format: 'u8', shape: [1, 2, 2, 3] }, ch, { normalization, out: g.tensor([1, 2, 2, 2], 'f32') })).rejects.toThrow(/'out' must be f32\[1, 2, 2, 3\]/);
  });

  test('choices: offsets in 0..2*pad, both flips, reproducible from the seed; identity choices = normalization alone', () => {
    const a = drawAugmentations(new Random(5), 1000, { pad: 4 });
    expect(Array.from(a)).toEqual(Array.from(drawAugmentations(new Random(5), 1000, { pad: 4 })));
    const dys = new Set(Array.from(a, (c) => c & 0xff));
    const dxs = new Set(Array.from(a, (c) => (c >> 8) & 0xff));
    expect([...dys].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(dxs.size).toBe(9);
    const flips = a.reduce((n, c) => n + ((c >> 16) & 1), 0);
    expect(flips).toBeGreaterThan(400);
    expect(flips).toBeLessThan(600);
    expect(drawAugmentations(new Random(5), 10, { pad: 4, flip: false }).every((c) => c >> 16 === 0)).toBe(true);
    const pixels = Uint8Array.from({ length: 2 * 4 * 4 * 3 }, (_, i) => (i * 37) % 256);
    expectExact(normalizeImages(pixels, 3, CIFAR10_NORMALIZATION), augmentReference(pixels, [2, 4, 4, 3], identityAugmentations(2), { normalization: CIFAR10_NORMALIZATION }), 'normalized');
  });
});

describe('ImageAugmenter', () => {
  test('writes batch (epoch, index) into the given tensor: the reference with the choices of (seed, epoch, index); sizes 5 and 3', async () => {
    const g = gpu();
    const shape = [32, 32, 3] as const;
    const aug = new ImageAugmenter(g, { shape, normalization: CIFAR10_NORMALIZATION, seed: 11 });
    const rng = new Random(2);
    for (const size of [5, 3, 5]) {
      const pixels = Uint8Array.from({ length: size * 3072 }, () => rng.int(256));
      const out = poisoned(g, [size, ...shape], 'f32');
      await aug.apply({ pixels, size, epoch: 2, index: size }, out);
      const want = augmentReference(pixels, [size, ...shape], aug.choices(size, 2, size), { normalization: CIFAR10_NORMALIZATION });
      expectClose((await out.read()) as Float32Array, want, tolerance(want), `batch of ${size}`);
      out.release();
    }
    expect(Array.from(aug.choices(4, 2, 1))).toEqual(Array.from(drawAugmentations(new Random(augmentSeed(11, 2, 1)), 4)));
    expect(Array.from(aug.choices(4, 2, 1))).not.toEqual(Array.from(aug.choices(4, 3, 1)));
    aug.destroy();
  });
});
