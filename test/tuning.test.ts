// The tuning mode (src/gpu/tuning.ts): BNN_TUNING / Gpu.create({ tuning }) decides which defaults the
// adapter-dependent choices take, every one of them through gpu.tuningKind; bad values are refused.
// Each Gpu here names its tuning explicitly, so the file means the same in CI's BNN_TUNING=gpu pass.
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { Gpu } from '../src/gpu/context.js';
import { ConfigError } from '../src/gpu/errors.js';
import type { KernelSpec } from '../src/gpu/kernel.js';
import { TUNING_ENV, resolveTuningMode, tuningKind } from '../src/gpu/tuning.js';
import type { AdapterSummary } from '../src/gpu/device.js';
import { channelReduction } from '../src/ops/batchnorm.js';
import { defaultFirstLayerMethod, FIRST_LAYER_DEFAULTS } from '../src/ops/first-layer.js';
import { defaultGemmTuning } from '../src/ops/gemm-tiling.js';
import { tuningMlp } from './helpers/tuning-mlp.js';
import { InferencePlan } from '../src/plan/plan.js';
import { Trainer } from '../src/train/trainer.js';

const adapter = (isSoftware: boolean): AdapterSummary => ({ vendor: 'v', architecture: 'a', device: '', description: '', isSoftware, backend: 'node' });

describe('resolveTuningMode and tuningKind (no GPU)', () => {
  test("the option wins; else BNN_TUNING; else 'default'; an empty BNN_TUNING counts as unset", () => {
    expect(resolveTuningMode(undefined, {})).toBe('default');
    expect(resolveTuningMode(undefined, undefined)).toBe('default'); // a browser: no environment
    expect(resolveTuningMode(undefined, { [TUNING_ENV]: 'gpu' })).toBe('gpu');
    expect(resolveTuningMode(undefined, { [TUNING_ENV]: '' })).toBe('default');
    expect(resolveTuningMode('default', { [TUNING_ENV]: 'gpu' })).toBe('default');
    expect(resolveTuningMode('gpu', {})).toBe('gpu');
  });

  test('an unknown value is a ConfigError naming where it came from and the accepted values', () => {
    const bad = () => resolveTuningMode(undefined, { BNN_TUNING: 'GPU' });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/the environment variable BNN_TUNING is "GPU": accepted values are 'default' or 'gpu' or 'auto'/);
    expect(() => resolveTuningMode('fast', {})).toThrow(/Gpu.create's option 'tuning' is "fast": accepted values are 'default' or 'gpu' or 'auto'/);
    expect(() => resolveTuningMode(1, {})).toThrow(ConfigError);
    // The option is checked even when the environment is fine.
    expect(() => resolveTuningMode('tuned', { BNN_TUNING: 'gpu' })).toThrow(/option 'tuning' is "tuned"/);
    expect(resolveTuningMode(undefined, { BNN_TUNING: 'auto' })).toBe('auto');
  });

  test("'default' follows the adapter; 'gpu' takes the GPU defaults on any adapter", () => {
    expect(tuningKind('default', adapter(true))).toBe('software');
    expect(tuningKind('default', adapter(false))).toBe('gpu');
    expect(tuningKind('gpu', adapter(true))).toBe('gpu');
    expect(tuningKind('gpu', adapter(false))).toBe('gpu');
    expect(tuningKind('auto', adapter(true))).toBe('software'); // 'auto' falls back to the adapter's own defaults
    expect(tuningKind('auto', adapter(false))).toBe('gpu');
  });
});

describe('Gpu.create with a tuning', () => {
  let plain: Gpu;
  let tuned: Gpu;
  beforeAll(async () => {
    plain = await Gpu.create({ log: null, tuning: 'default' });
    tuned = await Gpu.create({ log: null, tuning: 'gpu' });
  });
  afterAll(() => {
    plain?.destroy();
    tuned?.destroy();
  });
  const saved = process.env[TUNING_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[TUNING_ENV];
    else process.env[TUNING_ENV] = saved;
  });

  test('BNN_TUNING is read by Gpu.create in Node; a bad value fails before a device is acquired', async () => {
    process.env[TUNING_ENV] = 'gpu';
    const fromEnv = await Gpu.create({ log: null });
    try {
      expect(fromEnv.tuning).toBe('gpu');
      expect(fromEnv.tuningKind).toBe('gpu');
      expect(fromEnv.describe()).toMatch(/, gpu tuning$/);
    } finally {
      fromEnv.destroy();
    }
    process.env[TUNING_ENV] = 'hardware';
    await expect(Gpu.create({ log: null })).rejects.toThrow(/BNN_TUNING is "hardware": accepted values are 'default' or 'gpu'/);
    const explicit = await Gpu.create({ log: null, tuning: 'default' }); // the option is not read from the environment
    expect(explicit.tuning).toBe('default');
    explicit.destroy();
  });

  test('each choice takes the GPU default under gpu tuning, and the adapter-kind default otherwise', () => {
    const kind = plain.adapter.isSoftware ? 'software' : 'gpu';
    expect(plain.tuningKind).toBe(kind);
    expect(tuned.tuningKind).toBe('gpu');
    // The GPU values, under gpu tuning on any adapter:
    expect(defaultGemmTuning(tuned, 'binary', 'threshold')).toEqual({ wgX: 16, wgY: 16, tileK: 2, useWorkgroupTiles: true });
    expect(defaultGemmTuning(tuned, 'binaryFloat')).toEqual({ wgX: 16, wgY: 16, tileK: 1, useWorkgroupTiles: true });
    expect(channelReduction(tuned)).toBe('workgroup');
    expect(defaultFirstLayerMethod(tuned)).toBe(FIRST_LAYER_DEFAULTS.gpu);
    if (kind === 'software') {
      // SwiftShader's measured defaults: storage reads, serial channel sums.
      expect(defaultGemmTuning(plain, 'binary', 'threshold')).toEqual({ wgX: 4, wgY: 4, tileK: 8, useWorkgroupTiles: false });
      expect(defaultGemmTuning(plain, 'binaryFloat')).toEqual({ wgX: 8, wgY: 8, tileK: 1, useWorkgroupTiles: false });
      expect(channelReduction(plain)).toBe('serial');
      expect(defaultFirstLayerMethod(plain)).toBe(FIRST_LAYER_DEFAULTS.software);
    }
  });

  /** The kernels `run` compiles on `g`, in order. */
  async function kernelsOf(g: Gpu, run: (g: Gpu) => Promise<void>): Promise<KernelSpec[]> {
    const specs: KernelSpec[] = [];
    const spy = vi.spyOn(g, 'kernel').mockImplementation(function (this: Gpu, spec: KernelSpec) {
      specs.push(spec);
      return Gpu.prototype.kernel.call(this, spec);
    });
    try {
      await run(g);
    } finally {
      spy.mockRestore();
    }
    return specs;
  }

  test('the choice reaches compiled plans and the trainer: workgroup tiles and workgroup reductions under gpu tuning', async () => {
    const compile = async (g: Gpu) => (await InferencePlan.compile(g, tuningMlp(), { maxBatch: 4 })).destroy();
    const train = async (g: Gpu) => {
      const trainer = await Trainer.create(g, tuningMlp(), { optimizer: { kind: 'sgd', learningRate: 0 }, maxBatch: 4 });
      try {
        await trainer.step(new Float32Array(4 * 40).fill(1), new Uint32Array(4));
      } finally {
        trainer.destroy();
      }
    };
    // The tiled GEMMs (their flat helper entry points, e.g. sign_tables, have no tiling).
    const tiles = (specs: KernelSpec[]) => specs.filter((s) => s.constants?.WG_X !== undefined).map((s) => s.constants?.USE_WORKGROUP_TILES);
    const bnStats = (specs: KernelSpec[]) => specs.filter((s) => s.shader === 'batchnorm' && s.entryPoint.startsWith('bn_stats')).map((s) => s.entryPoint);

    const tunedPlan = await kernelsOf(tuned, compile);
    expect(tiles(tunedPlan).length).toBeGreaterThan(0);
    expect(new Set(tiles(tunedPlan))).toEqual(new Set([true]));
    const tunedStep = await kernelsOf(tuned, train);
    expect(new Set(tiles(tunedStep))).toEqual(new Set([true]));
    expect(bnStats(tunedStep)).toEqual(['bn_stats_update']);
    if (plain.tuningKind === 'software') {
      expect(new Set(tiles(await kernelsOf(plain, compile)))).toEqual(new Set([false]));
      const plainStep = await kernelsOf(plain, train);
      expect(new Set(tiles(plainStep))).toEqual(new Set([false]));
      expect(bnStats(plainStep)).toEqual(['bn_stats_update_serial']);
    }
  });
});
