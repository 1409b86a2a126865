// The `bnn` command line: flags parsed once, usage errors as their own type.

/** A mistake in the command line: printed with the usage text, exit status 2. */
export class UsageError extends Error {}

export interface Flags {
  positional: string[];
  values: Map<string, string>;
  switches: Set<string>;
}

const VALUE_FLAGS = new Set(['shapes', 'reps', 'warmup', 'out', 'batch', 'random', 'layout', 'seed', 'ratios', 'model', 'input', 'output', 'activations', 'layers', 'epochs', 'lr', 'optimizer', 'limit', 'data', 'rounds', 'backward', 'schedule', 'decay-rate', 'lr-scale', 'quant', 'data-dir', 'test-limit', 'mean', 'std', 'image', 'chart', 'models', 'gradient-bits']);

export function parse(argv: string[]): Flags {
  const flags: Flags = { positional: [], values: new Map(), switches: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      flags.positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split('=', 2);
    if (VALUE_FLAGS.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.values.set(name, value);
    } else {
      flags.switches.add(name);
    }
  }
  return flags;
}

export function positiveInt(flags: Flags, name: string): number | undefined {
  const v = flags.values.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${v}'`);
  return n;
}

