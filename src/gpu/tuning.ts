// Which defaults the adapter-dependent choices take (GEMM and convolution tilings, BatchNorm's
// reductions, the first-layer method): decided once per Gpu, from Gpu.create's `tuning` option or BNN_TUNING.
import type { AdapterSummary } from './device.js';
import { ConfigError } from './errors.js';

/**
 * 'default': the defaults measured for this kind of adapter (the CPU ones on SwiftShader, the GPU
 * ones on a GPU). 'gpu': the GPU defaults on any adapter, so that a machine without a GPU runs,
 * and CI tests, the code paths a GPU will take. 'auto': the winners `bnn tune` measured on this
 * adapter (its cached table, src/gpu/tuning-cache.ts), the adapter's defaults for shapes not in it.
 * A new mode is one more entry here and a case in tuningKind.
 */
export const TUNING_MODES = ['default', 'gpu', 'auto'] as const;
export type TuningMode = (typeof TUNING_MODES)[number];

/** Which family of defaults applies: the ones measured on CPU adapters, or the ones for GPUs. */
export type TuningKind = 'software' | 'gpu';

/** The environment variable that sets the mode in Node when Gpu.create is not given one. */
export const TUNING_ENV = 'BNN_TUNING';

export function tuningKind(mode: TuningMode, adapter: AdapterSummary): TuningKind {
  switch (mode) {
    case 'default':
    case 'auto':
      return adapter.isSoftware ? 'software' : 'gpu';
    case 'gpu':
      return 'gpu';
  }
}

/**
 * The mode to use: `option` when given, else (Node only; a browser has no environment) BNN_TUNING,
 * else 'default'. An empty BNN_TUNING counts as unset. Any other unknown value is refused, naming
 * where it came from, so that a typo never silently runs the defaults it meant to change.
 */
export function resolveTuningMode(option: unknown, env: Record<string, string | undefined> | undefined): TuningMode {
  if (option !== undefined) return checkMode(option, "Gpu.create's option 'tuning'");
  const value = env?.[TUNING_ENV];
  if (value === undefined || value === '') return 'default';
  return checkMode(value, `the environment variable ${TUNING_ENV}`);
}

function checkMode(value: unknown, source: string): TuningMode {
  if ((TUNING_MODES as readonly unknown[]).includes(value)) return value as TuningMode;
  const accepted = TUNING_MODES.map((m) => `'${m}'`).join(' or ');
  throw new ConfigError(
    `${source} is ${JSON.stringify(value) ?? String(value)}: accepted values are ${accepted} ` +
      `('gpu' takes the GPU defaults on any adapter, 'default' the ones measured for this adapter, 'auto' the winners \`bnn tune\` cached for it); fix or unset it`,
  );
}
