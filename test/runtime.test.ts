// The runtime's contract beyond numbers: errors are part of the API (type, and a message that
// names the op, kernel or limit), the pipeline cache, the buffer pool, released tensors and
// device loss.
import { describe, expect, test } from 'vitest';
import { packRows } from '../src/bitpack.js';
import { shaderSources } from '../src/generated/shaders.js';
import { BufferPool, sizeClass } from '../src/gpu/buffer-pool.js';
import { Gpu } from '../src/gpu/context.js';
import { DeviceLostError, GpuKernelError, LimitError, ShapeError } from '../src/gpu/errors.js';
import { KernelCache } from '../src/gpu/kernel.js';
import { bconv2d, type BConv2dOptions } from '../src/ops/bconv2d.js';
import { pack, unpack } from '../src/ops/bitpack.js';
import { conv2d } from '../src/ops/conv2d.js';
import { channelAffine, quantize, softmax, type QuantizeOptions } from '../src/ops/elementwise.js';
import { binaryFloatGemm } from '../src/ops/gemm-binary-float.js';
import { binaryGemm } from '../src/ops/gemm-binary.js';
import { gemmF32 } from '../src/ops/gemm-f32.js';
import { pad2d } from '../src/ops/pad.js';
import type { DType, Tensor } from '../src/tensor.js';
import { expectExact } from './helpers/check.js';
import { useGpu } from './helpers/gpu.js';
import { rngFor } from './helpers/random.js';

const gpu = useGpu();

/** A tensor of zeros (contents do not matter to the checks that refuse it). */
function zeros(shape: number[], dtype: DType, label = 't'): Tensor {
  const t = gpu().tensor(shape, dtype, label);
  gpu().write(t, new Uint32Array(t.byteLength / 4));
  return t;
}

/** Awaits `p` and returns what it threw (failing the test if it did not throw). */
async function thrown(p: Promise<unknown> | (() => unknown)): Promise<Error> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err as Error;
  }
  return expect.fail('expected an error, but none was thrown');
}

/** [what, call, op named in the message, words the message must contain] */
type ErrorCase = [string, () => Promise<unknown>, string, RegExp];

describe('shape errors name the op', () => {
  const cases: ErrorCase[] = [
    ['binaryGemm, mismatched K', () => binaryGemm(gpu(), zeros([4, 40], 'b1'), zeros([5, 41], 'b1')), 'binaryGemm', /same K/],
    ['gemmF32, mismatched K', () => gemmF32(gpu(), zeros([4, 8], 'f32'), zeros([5, 9], 'f32')), 'gemmF32', /same K/],
    ['binaryFloatGemm, mismatched K', () => binaryFloatGemm(gpu(), zeros([4, 8], 'f32'), zeros([5, 9], 'b1')), 'binaryFloatGemm', /same K/],
    ['binaryGemm, f32 operand', () => binaryGemm(gpu(), zeros([4, 8], 'f32'), zeros([5, 8], 'b1')), 'binaryGemm', /'a' must be b1/],
    ['gemmF32, b1 operand', () => gemmF32(gpu(), zeros([4, 8], 'f32'), zeros([5, 8], 'b1')), 'gemmF32', /'b' must be f32/],
    ['binaryFloatGemm, f32 weights', () => binaryFloatGemm(gpu(), zeros([4, 8], 'f32'), zeros([5, 8], 'f32')), 'binaryFloatGemm', /'b' must be b1/],
    ['gemmF32, rank 3', () => gemmF32(gpu(), zeros([2, 4, 8], 'f32'), zeros([5, 8], 'f32')), 'gemmF32', /rank 2/],
    ['binaryGemm, rank 1', () => binaryGemm(gpu(), zeros([4, 8], 'b1'), zeros([8], 'b1')), 'binaryGemm', /rank 2/],
    ['gemmF32, wrong out shape', () => gemmF32(gpu(), zeros([4, 8], 'f32'), zeros([5, 8], 'f32'), { out: zeros([5, 4], 'f32') }), 'gemmF32', /'out' must be f32\[4, 5\]/],
    ['binaryGemm, i32 out for the threshold epilogue', () => {
      const epilogue = { kind: 'threshold' as const, threshold: zeros([5], 'i32'), flip: zeros([5], 'u32') };
      return binaryGemm(gpu(), zeros([4, 8], 'b1'), zeros([5, 8], 'b1'), { epilogue, out: zeros([4, 5], 'i32') });
    }, 'binaryGemm', /'out' must be b1/],
    ['binaryGemm, scale of the wrong length', () => {
      const epilogue = { kind: 'affine' as const, scale: zeros([6], 'f32'), bias: zeros([5], 'f32') };
      return binaryGemm(gpu(), zeros([4, 8], 'b1'), zeros([5, 8], 'b1'), { epilogue });
    }, 'binaryGemm', /'epilogue.scale' must have 5 entries/],
    ['binaryGemm, threshold of the wrong dtype', () => {
      const epilogue = { kind: 'threshold' as const, threshold: zeros([5], 'f32'), flip: zeros([5], 'u32') };
      return binaryGemm(gpu(), zeros([4, 8], 'b1'), zeros([5, 8], 'b1'), { epilogue });
    }, 'binaryGemm', /'epilogue.threshold' must be i32/],
    ['binaryGemm, flip of the wrong length', () => {
      const epilogue = { kind: 'threshold' as const, threshold: zeros([5], 'i32'), flip: zeros([4], 'u32') };
      return binaryGemm(gpu(), zeros([4, 8], 'b1'), zeros([5, 8], 'b1'), { epilogue });
    }, 'binaryGemm', /'epilogue.flip' must have 5 entries/],
    ['binaryGemm, threshold epilogue with workgroup tiles and 4*wgX not a multiple of 32', () => {
      const epilogue = { kind: 'threshold' as const, threshold: zeros([5], 'i32'), flip: zeros([5], 'u32') };
      const tuning = { wgX: 4, wgY: 4, tileK: 1, useWorkgroupTiles: true };
      return binaryGemm(gpu(), zeros([4, 8], 'b1'), zeros([5, 8], 'b1'), { epilogue, tuning });
    }, 'binaryGemm', /wgX/],
    ['gemmF32, workgroup over the device limit', () => {
      const tuning = { wgX: 64, wgY: 64, tileK: 1, useWorkgroupTiles: false };
      return gemmF32(gpu(), zeros([4, 8], 'f32'), zeros([5, 8], 'f32'), { tuning });
    }, 'gemmF32', /maxComputeInvocationsPerWorkgroup/],
    ['binaryGemm, unknown epilogue', () => {
      const epilogue = { kind: 'relu' } as unknown as { kind: 'i32' };
      return binaryGemm(gpu(), zeros([4, 8], 'b1'), zeros([5, 8], 'b1'), { epilogue });
    }, 'binaryGemm', /unknown epilogue relu/],
    ['pack, b1 input', () => pack(gpu(), zeros([3, 40], 'b1')), 'pack', /must be f32/],
    ['pack, wrong out shape', () => pack(gpu(), zeros([3, 40], 'f32'), { out: zeros([3, 41], 'b1') }), 'pack', /'out' must be b1\[3, 40\]/],
    ['unpack, f32 input', () => unpack(gpu(), zeros([3, 40], 'f32')), 'unpack', /must be b1/],
    ['unpack, b1 out', () => unpack(gpu(), zeros([3, 40], 'b1'), { out: zeros([3, 40], 'b1') }), 'unpack', /'out' must be f32/],
    // Convolutions: NHWC input, OHWI kernel (its last axis the input's channels).
    ['bconv2d, input and kernel channels differ', () => bconv2d(gpu(), zeros([1, 4, 4, 33], 'b1'), zeros([5, 3, 3, 32], 'b1')), 'bconv2d', /33 channels but the kernel \[5, 3, 3, 32\] expects 32/],
    ['conv2d, input and kernel channels differ', () => conv2d(gpu(), zeros([1, 4, 4, 3], 'f32'), zeros([5, 3, 3, 4], 'f32')), 'conv2d', /3 channels but the kernel \[5, 3, 3, 4\] expects 4/],
    ['bconv2d, f32 input', () => bconv2d(gpu(), zeros([1, 4, 4, 8], 'f32'), zeros([5, 3, 3, 8], 'b1')), 'bconv2d', /'x' must be b1/],
    ['bconv2d, f32 kernel', () => bconv2d(gpu(), zeros([1, 4, 4, 8], 'b1'), zeros([5, 3, 3, 8], 'f32')), 'bconv2d', /'w' must be b1/],
    ['conv2d, b1 input', () => conv2d(gpu(), zeros([1, 4, 4, 8], 'b1'), zeros([5, 3, 3, 8], 'f32')), 'conv2d', /'x' must be f32/],
    ['conv2d, i32 kernel', () => conv2d(gpu(), zeros([1, 4, 4, 8], 'f32'), zeros([5, 3, 3, 8], 'i32')), 'conv2d', /'w' must be f32/],
    ['bconv2d, rank 3 input', () => bconv2d(gpu(), zeros([4, 4, 8], 'b1'), zeros([5, 3, 3, 8], 'b1')), 'bconv2d', /'x' must have rank 4/],
    ['conv2d, rank 2 kernel', () => conv2d(gpu(), zeros([1, 4, 4, 8], 'f32'), zeros([5, 72], 'f32')), 'conv2d', /'w' must have rank 4/],
    ['bconv2d, kernel larger than the input with valid', () => bconv2d(gpu(), zeros([1, 2, 5, 8], 'b1'), zeros([4, 3, 3, 8], 'b1')), 'bconv2d', /a 3x3 window does not fit a 2x5 input with padding 'valid'/],
    ['conv2d, dilated kernel larger than the input with valid', () => conv2d(gpu(), zeros([1, 4, 4, 2], 'f32'), zeros([3, 3, 3, 2], 'f32'), { dilation: 2 }), 'conv2d', /a 5x5 window does not fit a 4x4 input/],
    ...([2, -1, 0.5, '1'] as const).map((v): ErrorCase => [`bconv2d, padValues ${JSON.stringify(v)}`, () => bconv2d(gpu(), zeros([1, 4, 4, 8], 'b1'), zeros([4, 3, 3, 8], 'b1'), { padValues: v as never }), 'bconv2d', /padValues must be 0 or 1/]),
    ...([{ strides: 0 }, { strides: -1 }, { strides: [2, 0] }, { strides: 1.5 }, { dilation: 0 }, { dilation: [1, -2] }] as BConv2dOptions[]).flatMap((w): ErrorCase[] => {
      const name = Object.keys(w)[0];
      const pattern = new RegExp(`'${name}' must be a positive integer`);
      return [
        [`bconv2d, ${JSON.stringify(w)}`, () => bconv2d(gpu(), zeros([1, 4, 4, 8], 'b1'), zeros([4, 3, 3, 8], 'b1'), w), 'bconv2d', pattern],
        [`conv2d, ${JSON.stringify(w)}`, () => conv2d(gpu(), zeros([1, 4, 4, 8], 'f32'), zeros([4, 3, 3, 8], 'f32'), w), 'conv2d', pattern],
      ];
    }),
    ['bconv2d, padding "full"', () => bconv2d(gpu(), zeros([1, 4, 4, 8], 'b1'), zeros([4, 3, 3, 8], 'b1'), { padding: 'full' as never }), 'bconv2d', /padding must be 'valid' or 'same'/],
    ['bconv2d, wrong out shape', () => bconv2d(gpu(), zeros([1, 4, 4, 8], 'b1'), zeros([5, 3, 3, 8], 'b1'), { out: zeros([1, 4, 4, 5], 'i32') }), 'bconv2d', /'out' must be i32\[1, 2, 2, 5\]/],
    ['bconv2d, i32 out for the threshold epilogue', () => {
      const epilogue = { kind: 'threshold' as const, threshold: zeros([5], 'i32'), flip: zeros([5], 'u32') };
      return bconv2d(gpu(), zeros([1, 4, 4, 8], 'b1'), zeros([5, 3, 3, 8], 'b1'), { padding: 'same', epilogue, out: zeros([1, 4, 4, 5], 'i32') });
    }, 'bconv2d', /'out' must be b1, got i32/],
    ['bconv2d, scale of the wrong length', () => {
      const epilogue = { kind: 'affine' as const, scale: zeros([4], 'f32'), bias: zeros([5], 'f32') };
      return bconv2d(gpu(), zeros([1, 4, 4, 8], 'b1'), zeros([5, 3, 3, 8], 'b1'), { epilogue });
    }, 'bconv2d', /'epilogue.scale' must have 5 entries/],
    ['conv2d, wrong out dtype', () => conv2d(gpu(), zeros([1, 4, 4, 8], 'f32'), zeros([5, 3, 3, 8], 'f32'), { out: zeros([1, 2, 2, 5], 'i32') }), 'conv2d', /'out' must be f32/],
    // Negative margins crop (ZeroPadding2D's backward); cropping every row leaves nothing.
    ['pad2d, a crop of every row', () => pad2d(gpu(), zeros([1, 4, 4, 2], 'f32'), { top: -3, bottom: -1, left: 0, right: 0 }), 'pad2d', /the result non-empty/],
    ['pad2d, cropped to nothing', () => pad2d(gpu(), zeros([1, 4, 4, 2], 'b1'), { top: 0, bottom: -4, left: 0, right: 0 }), 'pad2d', /the result non-empty/],
    ['pad2d, fractional padding', () => pad2d(gpu(), zeros([1, 4, 4, 2], 'f32'), { top: 0, bottom: 0, left: 0, right: 0.5 }), 'pad2d', /integers/],
    ['pad2d, i32 input', () => pad2d(gpu(), zeros([1, 4, 4, 2], 'i32'), { top: 1, bottom: 1, left: 1, right: 1 }), 'pad2d', /must be an f32 or b1 NHWC tensor/],
    ['pad2d, rank 3 input', () => pad2d(gpu(), zeros([4, 4, 2], 'f32'), { top: 1, bottom: 1, left: 1, right: 1 }), 'pad2d', /NHWC/],
    ['pad2d, wrong out shape', () => pad2d(gpu(), zeros([1, 4, 4, 2], 'f32'), { top: 1, bottom: 1, left: 0, right: 0 }, { out: zeros([1, 6, 6, 2], 'f32') }), 'pad2d', /'out' must be f32\[1, 6, 4, 2\]/],
    // Element-wise ops: f32 x[..., C]; scale and bias f32[C].
    ['channelAffine, b1 input', () => channelAffine(gpu(), zeros([3, 40], 'b1')), 'channelAffine', /'x' must be f32, got b1/],
    ['channelAffine, scale of the wrong length', () => channelAffine(gpu(), zeros([3, 33], 'f32'), { scale: zeros([32], 'f32') }), 'channelAffine', /'scale' must have 33 entries \(one per channel of x's last axis\), got 32/],
    ['channelAffine, bias of rank 2', () => channelAffine(gpu(), zeros([3, 33], 'f32'), { bias: zeros([1, 33], 'f32') }), 'channelAffine', /'bias' must have rank 1/],
    ['channelAffine, i32 bias', () => channelAffine(gpu(), zeros([3, 33], 'f32'), { bias: zeros([33], 'i32') }), 'channelAffine', /'bias' must be f32/],
    ['channelAffine, softmax as activation', () => channelAffine(gpu(), zeros([3, 33], 'f32'), { activation: 'softmax' as never }), 'channelAffine', /unknown activation "softmax"; use one of linear, relu/],
    ['channelAffine, wrong out shape', () => channelAffine(gpu(), zeros([3, 40], 'f32'), { out: zeros([40, 3], 'f32') }), 'channelAffine', /'out' must be f32\[3, 40\]/],
    ['channelAffine, in place', () => {
      const x = zeros([3, 40], 'f32');
      return channelAffine(gpu(), x, { out: x, activation: 'relu' });
    }, 'channelAffine', /'out' must not share storage with 'x'.*pass another tensor/],
    ['channelAffine, workgroup size 0', () => channelAffine(gpu(), zeros([3, 40], 'f32'), { workgroupSize: 0 }), 'channelAffine', /workgroupSize must be an integer in \[1, \d+\]/],
    ['quantize, no quantizer', () => quantize(gpu(), zeros([3, 40], 'f32'), {} as QuantizeOptions), 'quantize', /options.quantizer is required/],
    ['quantize, unknown alias', () => quantize(gpu(), zeros([3, 40], 'f32'), { quantizer: 'sign' }), 'quantize', /unknown quantizer 'sign'/],
    ['quantize, magnitude_aware_sign', () => quantize(gpu(), zeros([3, 40], 'f32'), { quantizer: 'magnitude_aware_sign' }), 'quantize', /per-channel.*apply its CPU forward/],
    ['quantize, ste_tern with ternary_weight_networks', () => quantize(gpu(), zeros([3, 40], 'f32'), { quantizer: { class_name: 'SteTern', config: { ternary_weight_networks: true } } }), 'quantize', /ternary_weight_networks/],
    ['quantize, DoReFa weights mode', () => quantize(gpu(), zeros([3, 40], 'f32'), { quantizer: { class_name: 'DoReFa', config: { mode: 'weights' } } }), 'quantize', /'weights' mode/],
    ['quantize, DoReFa of 17 bits', () => quantize(gpu(), zeros([3, 40], 'f32'), { quantizer: { class_name: 'DoReFa', config: { k_bit: 17 } } }), 'quantize', /k_bit must be an integer in \[1, 16\].*got 17/],
    ['quantize, unknown mode', () => quantize(gpu(), zeros([3, 40], 'f32'), { quantizer: { kind: 'round' } as never }), 'quantize', /unknown quantize mode/],
    ['quantize, i32 input', () => quantize(gpu(), zeros([3, 40], 'i32'), { quantizer: 'ste_sign' }), 'quantize', /'x' must be f32/],
    ['softmax, b1 input', () => softmax(gpu(), zeros([3, 40], 'b1')), 'softmax', /'x' must be f32/],
    ['softmax, i32 out', () => softmax(gpu(), zeros([3, 40], 'f32'), { out: zeros([3, 40], 'i32') }), 'softmax', /'out' must be f32/],
  ];
  test.each(cases)('%s', async (_what, call, op, words) => {
    const err = await thrown(call);
    expect(err).toBeInstanceOf(ShapeError);
    expect(err.message.startsWith(`${op}:`), `'${err.message}' should start with '${op}:'`).toBe(true);
    expect(err.message).toMatch(words);
  });

  test('tensors refuse bad shapes and data of the wrong length', () => {
    for (const shape of [[], [0], [3, -1], [2.5]]) expect(() => gpu().tensor(shape, 'f32', 'bad'), `shape [${shape}]`).toThrow(ShapeError);
    expect(() => gpu().upload(new Float32Array(5), [2, 3], 'f32', 'x')).toThrow(/x: f32\[2, 3\] needs 6 values, got 5/);
    expect(() => gpu().upload(new Uint32Array(3), [2, 33], 'b1', 'x')).toThrow(/needs 4 packed words, got 3/);
    const t = zeros([2, 3], 'f32', 'x');
    expect(() => gpu().write(t, new Float32Array(5))).toThrow(ShapeError);
    t.release();
  });
});

describe('limits', () => {
  test('a tensor over maxStorageBufferBindingSize throws a LimitError naming the limit', () => {
    const limit = Math.min(gpu().limits.maxStorageBufferBindingSize, gpu().limits.maxBufferSize);
    const err = (() => {
      try {
        gpu().tensor([Math.floor(limit / 4) + 1], 'f32', 'huge');
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(LimitError);
    expect(err!.message).toMatch(/huge: f32\[\d+\] needs \d+ bytes/);
    expect(err!.message).toMatch(/maxStorageBufferBindingSize/);
  });

  test('an op whose output would be over the limit throws a LimitError before any GPU work', async () => {
    const limit = Math.min(gpu().limits.maxStorageBufferBindingSize, gpu().limits.maxBufferSize);
    // b1 input of (limit/4 + 32) values: 1/32 of the limit; its f32 unpacking is over it.
    const cols = Math.floor(limit / 4) + 32;
    const x = gpu().tensor([cols], 'b1', 'bits');
    const err = await thrown(unpack(gpu(), x));
    x.release();
    expect(err).toBeInstanceOf(LimitError);
    expect(err.message).toMatch(/^unpack\[\d+\]\.out: /);
    expect(err.message).toMatch(/maxStorageBufferBindingSize/);
  });

  test('gpu.grid folds past 65535 workgroups and refuses more than 65535 x 65535', () => {
    const max = gpu().limits.maxComputeWorkgroupsPerDimension;
    expect(max).toBe(65535);
    expect(gpu().grid(0, 'empty')).toEqual([1, 1, 1]);
    expect(gpu().grid(max, 'one row')).toEqual([max, 1, 1]);
    expect(gpu().grid(max * max, 'full')).toEqual([max, max, 1]);
    const rng = rngFor('grid');
    for (const total of [max + 1, 2 * max, 2 * max + 1, 78125, 123456789, max * max - 1, ...Array.from({ length: 200 }, () => 1 + rng.int(max * max))]) {
      const [x, y, z] = gpu().grid(total, 'g');
      expect(z).toBe(1);
      expect(x <= max && y <= max, `grid(${total}) = [${x}, ${y}]`).toBe(true);
      expect(x * y >= total && x * y - total < y, `grid(${total}) = [${x}, ${y}] covers it with less than a row spare`).toBe(true);
    }
    const err = (() => {
      try {
        gpu().grid(max * max + 1, 'too big');
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(LimitError);
    expect(err!.message).toMatch(/^too big: \d+ workgroups exceed 65535 x 65535/);
  });
});

describe('kernel errors name the kernel', () => {
  const packKernel = () => gpu().kernel({ shader: 'bitpack', entryPoint: 'pack' });
  const params = { rows: 1, cols: 4, words_per_row: 1 };

  test('an unknown binding name', async () => {
    const kernel = await packKernel();
    const [x, out, extra] = [zeros([4], 'f32'), zeros([4], 'b1'), zeros([4], 'f32')];
    const err = await thrown(gpu().run('bad bind', (rec) => rec.dispatch(kernel, { params, values: x, packed: out, valuez: extra }, [1, 1, 1])));
    expect(err).toBeInstanceOf(GpuKernelError);
    expect((err as GpuKernelError).kernel).toBe('bitpack:pack');
    expect(err.message).toMatch(/^bitpack:pack: no binding named 'valuez'; the kernel binds params, values, packed/);
    // The failed run left no error scope behind: the Gpu still works.
    const p = await pack(gpu(), x, { out });
    expect(Array.from(await p.read())).toEqual([0]);
    for (const t of [x, out, extra]) t.release();
  });

  test('a missing binding, and a uniform member missing, unknown or of the wrong type', async () => {
    const kernel = await packKernel();
    const [x, out] = [zeros([4], 'f32'), zeros([4], 'b1')];
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ params, values: x }, /binding 'packed' was not given/],
      [{ params: { rows: 1, cols: 4 }, values: x, packed: out }, /uniform 'params.words_per_row' was not given/],
      [{ params: { ...params, depth: 2 }, values: x, packed: out }, /uniform 'params' has no member 'depth'/],
      [{ params: { ...params, cols: 2.5 }, values: x, packed: out }, /uniform 'params.cols' must be an integer/],
    ];
    for (const [bindings, words] of cases) {
      const err = await thrown(() => kernel.bind(gpu().device, bindings as never));
      expect(err).toBeInstanceOf(GpuKernelError);
      expect(err.message.startsWith('bitpack:pack: ')).toBe(true);
      expect(err.message).toMatch(words);
    }
    const err = await thrown(() => kernel.bind(gpu().device, { params: { ...params, cols: -1 }, values: x, packed: out }));
    expect(err).toBeInstanceOf(LimitError);
    expect(err.message).toMatch(/bitpack:pack: uniform 'params.cols' = -1 does not fit in u32/);
    x.release();
    out.release();
  });

  test('an unknown override constant or entry point; failed builds are not cached', async () => {
    const before = gpu().kernels.size;
    let err = await thrown(gpu().kernel({ shader: 'bitpack', entryPoint: 'pack', constants: { WORKGROUP_SIZ: 32 } }));
    expect(err).toBeInstanceOf(GpuKernelError);
    expect(err.message).toMatch(/^bitpack:pack:WORKGROUP_SIZ=32: no override constant 'WORKGROUP_SIZ' \(declared: WORKGROUP_SIZE\)/);
    err = await thrown(gpu().kernel({ shader: 'bitpack', entryPoint: 'repack' }));
    expect(err).toBeInstanceOf(GpuKernelError);
    expect(err.message).toMatch(/^bitpack:repack: shaders\/bitpack.wgsl has no compute entry point 'repack' \(it has pack, pack_dorefa_planes, unpack, concat_words\)/);
    err = await thrown(gpu().kernel({ shader: 'nope' as never, entryPoint: 'main' }));
    expect(err).toBeInstanceOf(GpuKernelError);
    expect(err.message).toMatch(/no shader named 'nope'/);
    expect(gpu().kernels.size).toBe(before);
  });

  test('a WGSL compile error names the shader file and line', async () => {
    // KernelCache compiles what src/generated/shaders.ts holds; a bogus entry added for this test
    // goes through the real path (module, reflection, pipeline, compilation messages).
    const sources = shaderSources as unknown as Record<string, string>;
    sources.bogus_for_test = [
      '// line 1',
      '@compute @workgroup_size(1)',
      'fn main() {',
      '  let x: u32 = 1.5;',
      '}',
    ].join('\n');
    try {
      const err = await thrown(gpu().kernel({ shader: 'bogus_for_test' as never, entryPoint: 'main' }));
      expect(err).toBeInstanceOf(GpuKernelError);
      expect(err.message).toMatch(/^bogus_for_test:main: pipeline creation failed/);
      expect(err.message).toMatch(/shaders\/bogus_for_test\.wgsl:4:\d+ error: /);
    } finally {
      delete sources.bogus_for_test;
    }
  });
});

describe('pipeline cache', () => {
  test('the same spec returns the same kernel; other constants another; keys ignore constant order', async () => {
    const spec = { shader: 'gemm_f32' as const, entryPoint: 'gemm_f32', constants: { WG_X: 4, WG_Y: 2, TILE_K_VEC: 1, USE_WORKGROUP_TILES: false } };
    const [k1, k2] = await Promise.all([gpu().kernel(spec), gpu().kernel(spec)]); // concurrent: one build
    const size = gpu().kernels.size;
    const reordered = { shader: spec.shader, entryPoint: spec.entryPoint, constants: { USE_WORKGROUP_TILES: false, TILE_K_VEC: 1, WG_Y: 2, WG_X: 4 } };
    expect(k2).toBe(k1);
    expect(await gpu().kernel(reordered)).toBe(k1);
    expect(gpu().kernels.size).toBe(size);
    const k3 = await gpu().kernel({ ...spec, constants: { ...spec.constants, WG_Y: 4 } });
    expect(k3).not.toBe(k1);
    expect(await gpu().kernel({ ...spec, constants: { ...spec.constants, USE_WORKGROUP_TILES: true } })).not.toBe(k1);
    expect(gpu().kernels.size).toBe(size + 2);
    expect(KernelCache.key(spec)).toBe(KernelCache.key(reordered));
    expect(KernelCache.key(spec)).not.toBe(KernelCache.key({ ...spec, entryPoint: 'other' }));
    expect(KernelCache.key({ shader: 'bitpack', entryPoint: 'pack' })).toBe(KernelCache.key({ shader: 'bitpack', entryPoint: 'pack', constants: {} }));
  });

  test('repeated launches reuse their pipeline', async () => {
    const x = gpu().upload(new Float32Array([1, -1, 0, -2]), [4], 'f32', 'x');
    const out = zeros([4], 'b1');
    await pack(gpu(), x, { out, workgroupSize: 16 });
    const size = gpu().kernels.size;
    await pack(gpu(), x, { out, workgroupSize: 16 });
    expect(gpu().kernels.size).toBe(size);
    expect(Array.from(await out.read())).toEqual([0b1010]);
    x.release();
    out.release();
  });
});

describe('buffer pool', () => {
  test('a released buffer comes back for the same size class, and the pool counts bytes', () => {
    const pool = new BufferPool(gpu().device);
    const a = pool.acquire(100, 'a');
    expect(a.size).toBe(sizeClass(100));
    expect(pool.inUseBytes).toBe(a.size);
    pool.release(a);
    expect([pool.inUseBytes, pool.freeBytes]).toEqual([0, a.size]);
    const b = pool.acquire(97, 'b'); // 97 and 100 share the class 112
    expect(b).toBe(a);
    expect(b.label).toBe('b');
    const c = pool.acquire(100, 'c'); // a is taken: a new buffer
    expect(c).not.toBe(a);
    pool.release(c);
    expect(pool.acquire(5000, 'd')).not.toBe(c); // another class
    pool.release(b);
    pool.trim();
    expect(pool.freeBytes).toBe(0);
  });

  test('tensors reuse released buffers; release is idempotent; released tensors refuse use', async () => {
    const t = gpu().upload(new Float32Array(25).fill(-1), [5, 5], 'f32', 'x');
    const buffer = t.buffer;
    const free = gpu().pool.freeBytes;
    t.release();
    t.release(); // no double free into the pool
    expect(gpu().pool.freeBytes).toBe(free + buffer.size);
    expect(t.isReleased).toBe(true);
    expect(() => gpu().write(t, new Float32Array(25))).toThrow(/tensor 'x' was released/);
    expect((await thrown(t.read())).message).toMatch(/tensor 'x' was released/);
    expect((await thrown(pack(gpu(), t))).message).toMatch(/tensor 'x' was released/);
    expect((await thrown(gemmF32(gpu(), t, t))).message).toMatch(/tensor 'x' was released/);
    const again = gpu().tensor([28], 'f32', 'y'); // 112 bytes: the class of 100
    expect(again.buffer).toBe(buffer);
    again.release();
  });

  test('size classes: at least the request, 16-byte multiples, stable, monotonic, few per octave', () => {
    const wrong: string[] = [];
    const classes = new Set<number>();
    let previous = 0;
    for (let bytes = 1; bytes <= 1 << 22; bytes += bytes < 8192 ? 1 : 61) {
      const c = sizeClass(bytes);
      if (!(c >= bytes && c >= 16 && c % 16 === 0)) wrong.push(`sizeClass(${bytes}) = ${c}: below the request or not a multiple of 16`);
      if (sizeClass(c) !== c) wrong.push(`sizeClass(${c}) = ${sizeClass(c)}: a class is not its own class`);
      if (c < previous) wrong.push(`sizeClass(${bytes}) = ${c} < sizeClass(${bytes - 1}): not monotonic`);
      // Above 4 KiB the step is 1/8 of the next power of two: the waste stays below that step.
      if (bytes > 4096 && c - bytes >= 2 ** Math.ceil(Math.log2(bytes)) / 8) wrong.push(`sizeClass(${bytes}) = ${c} wastes a step or more`);
      if (bytes > 4096) classes.add(c);
      previous = c;
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    // 4 KiB .. 4 MiB is 10 octaves: at most 4 classes each (from P/2 to P in steps of P/8).
    expect(classes.size).toBeLessThanOrEqual(40);
  });
});

describe('tensors', () => {
  test('read returns the dtype\'s array; toFloat32 unpacks b1 to +-1', async () => {
    const f = gpu().upload(new Float32Array([1.5, -2]), [2], 'f32', 'f');
    const i = gpu().upload(new Int32Array([-7, 7]), [2], 'i32', 'i');
    const u = gpu().upload(new Uint32Array([0xffffffff, 3]), [2], 'u32', 'u');
    const b = gpu().upload(packRows([1, -1, -1, 1, -1], 1, 5), [1, 5], 'b1', 'b');
    expect(await f.read()).toEqual(new Float32Array([1.5, -2]));
    expect(await i.read()).toEqual(new Int32Array([-7, 7]));
    expect(await u.read()).toEqual(new Uint32Array([0xffffffff, 3]));
    expect(await b.read()).toEqual(new Uint32Array([0b10110]));
    expect(await b.toFloat32()).toEqual(new Float32Array([1, -1, -1, 1, -1]));
    expect([b.size, b.byteLength, String(b)]).toEqual([5, 4, 'Tensor(b: b1[1, 5])']);
    for (const t of [f, i, u, b]) t.release();
  });
});

describe('device loss', () => {
  test('after gpu.destroy() every operation throws DeviceLostError; other Gpus keep working', async () => {
    const lost = await Gpu.create({ log: null });
    const x = lost.upload(new Float32Array([1, -1, 2]), [3], 'f32', 'x');
    const kernel = await lost.kernel({ shader: 'bitpack', entryPoint: 'pack' });
    lost.destroy();
    await lost.device.lost; // resolves asynchronously; the Gpu's own handler ran before ours
    const calls: [string, () => unknown][] = [
      ['tensor', () => lost.tensor([4], 'f32')],
      ['upload', () => lost.upload(new Float32Array(4), [4], 'f32')],
      ['kernel', () => lost.kernel({ shader: 'bitpack', entryPoint: 'unpack' })],
      ['read', () => x.read()],
      ['pack', () => pack(lost, x)],
      ['run', () => lost.run('after destroy', (rec) => rec.dispatch(kernel, {}, [1, 1, 1]))],
      ['sync', () => lost.sync()],
    ];
    for (const [what, call] of calls) {
      const err = await thrown(call);
      expect(err, what).toBeInstanceOf(DeviceLostError);
      expect(err.message, what).toMatch(/device was lost \(it was destroyed/);
    }
    expect((await thrown(() => x.read())).message).toMatch(/^x\.readback: /);
    // The file's own Gpu (an earlier device from the same Dawn instance) is unaffected.
    const y = gpu().upload(new Float32Array([1, -1, 2, -0]), [4], 'f32', 'y');
    const p = await pack(gpu(), y);
    expectExact(await p.read(), packRows([1, -1, 2, -0], 1, 4), 'pack after another Gpu was destroyed');
    y.release();
    p.release();
  });
});

describe('prepared dispatches (bind once, record in many runs)', () => {
  test('one prepared pack dispatch, recorded in three runs over new inputs, matches the reference each time', async () => {
    const g = gpu();
    const rng = rngFor('prepared dispatch');
    const [rows, cols] = [5, 70];
    const x = g.tensor([rows, cols], 'f32', 'prepared.x');
    const out = g.tensor([rows, cols], 'b1', 'prepared.out');
    const kernel = await g.kernel({ shader: 'bitpack', entryPoint: 'pack', constants: { WORKGROUP_SIZE: 64 } });
    const d = await g.prepare('prepared.pack', kernel, { params: { rows, cols, words_per_row: 3 }, values: x, packed: out }, g.grid(1, 'prepared.pack'));
    try {
      for (let i = 0; i < 3; i++) {
        const values = rng.floats(rows * cols);
        g.write(x, values);
        await g.run(`prepared.pack #${i}`, (rec) => rec.record(d));
        expectExact(await out.read(), packRows(values, rows, cols), `run ${i}`, { hex: true });
      }
    } finally {
      d.destroy();
      x.release();
      out.release();
    }
  });

  test('a bad binding fails in prepare, naming the label', async () => {
    const g = gpu();
    const kernel = await g.kernel({ shader: 'bitpack', entryPoint: 'pack' });
    await expect(g.prepare('prepared.bad', kernel, { params: { rows: 1, cols: 1, words_per_row: 1 } }, [1, 1, 1])).rejects.toThrow(/binding 'values' was not given/);
  });
});
