// The `bnn` command line: each command declares its options (kind, values, help) once; they are
// parsed strictly (Node's util.parseArgs), validated before any work, and printed by --help.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isModelName } from '../io/shipped-models.js';

/** A mistake in the command line: one line, then how to get help; exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * What an option's value must be: a switch takes none; posint an integer >= 1, count one >= 0,
 * number a finite number > 0; path any text that names a file or directory to be written; input
 * an existing file or directory (a comma-separated list of them with `list`); text anything.
 */
export type OptionKind = 'switch' | 'posint' | 'count' | 'number' | 'text' | 'path' | 'input' | 'model';

export interface OptionSpec {
  kind: OptionKind;
  /** One line for --help. */
  help: string;
  /** The value's name in --help (N, DIR, X.npy...). */
  placeholder?: string;
  /** The values allowed (an enum). With `list`: each item must be one of them. */
  choices?: readonly string[];
  /** A comma-separated list: each item checked. */
  list?: boolean;
}

export type OptionTable = Record<string, OptionSpec>;

export interface CommandSpec {
  /** The words that select it: 'train', 'bench gemm'. */
  name: string;
  /** Positional arguments in the usage line, e.g. 'MODEL' or 'FILE...'. */
  args?: string;
  /** How many positional arguments it takes (after its name). Default none. */
  positionals?: { min: number; max: number };
  /** One line for `bnn help`. */
  summary: string;
  /** Paragraphs for `bnn help NAME`, after the usage line. */
  details?: string;
  options: OptionTable;
}

/** A command: its spec and what it runs (with the parsed, checked flags). */
export interface Command extends CommandSpec {
  run(flags: Flags): Promise<void> | void;
}

export interface Flags {
  /** The command's words, then its positional arguments. */
  positional: string[];
  values: Map<string, string>;
  switches: Set<string>;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: OptionTable = {
  help: { kind: 'switch', help: "this command's help (nothing is run)" },
  debug: { kind: 'switch', help: 'stack traces with errors, and the WebGPU driver\'s own messages (also: BNN_DEBUG=1)' },
};

/** Edit distance (insertions, deletions, substitutions; a swap of neighbours counts 1). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The candidate nearest to `word` when it is a plausible typo of it (or `word` is a prefix of it), else undefined. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const dist = c.startsWith(word) && word.length >= 3 ? 0.5 : editDistance(word, c);
    if (dist < bestDistance) [best, bestDistance] = [c, dist];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

const didYouMean = (s: string | undefined, prefix = '') => (s === undefined ? '' : ` (did you mean ${prefix}${s}?)`);

/** "a, b or c" */
export function orList(items: readonly string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function checkValue(name: string, spec: OptionSpec, value: string): void {
  const items = spec.list ? value.split(',').map((s) => s.trim()) : [value];
  if (spec.list && items.some((s) => s === '')) throw new UsageError(`--${name} is a comma-separated list with no empty items, got '${value}'`);
  for (const item of items) {
    if (spec.choices && !spec.choices.includes(item)) {
      throw new UsageError(`--${name} must be ${orList(spec.choices as string[])}, got '${item}'${didYouMean(closest(item, spec.choices))}`);
    }
    const n = Number(item);
    if (spec.kind === 'posint' && !(Number.isInteger(n) && n >= 1 && item.trim() !== '')) throw new UsageError(`--${name} must be a positive integer, got '${item}'`);
    if (spec.kind === 'count' && !(Number.isInteger(n) && n >= 0 && item.trim() !== '')) throw new UsageError(`--${name} must be a non-negative integer, got '${item}'`);
    if (spec.kind === 'number' && !(Number.isFinite(n) && n > 0)) throw new UsageError(`--${name} must be a positive number, got '${item}'`);
    if (spec.kind === 'input' && !existsSync(item)) throw new UsageError(`--${name} ${item}: no such file or directory`);
    if (spec.kind === 'model' && !existsSync(item) && !isModelName(item)) throw new UsageError(`--${name} ${item}: no such file or directory`);
  }
}

/**
 * Parses `argv` (the words after the command's name) against the command's options: unknown
 * options are refused by name with the nearest known one, values are checked, positionals counted.
 * `others` (every command's options) lets a misplaced option be named as another command's.
 */
export function parse(command: CommandSpec, argv: string[], others: readonly CommandSpec[] = []): Flags {
  const table: OptionTable = { ...command.options, ...GLOBAL_OPTIONS };
  const options = Object.fromEntries(Object.entries(table).map(([k, s]) => [k, { type: s.kind === 'switch' ? ('boolean' as const) : ('string' as const), ...(k === 'help' ? { short: 'h' } : {}) }]));
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw usageFromParseError(err as Error & { code?: string }, command, table, others);
  }
  const flags: Flags = { positional: [...command.name.split(' '), ...parsed.positionals], values: new Map(), switches: new Set() };
  for (const [k, v] of Object.entries(parsed.values)) {
    if (typeof v === 'boolean' && v) flags.switches.add(k);
    else if (typeof v === 'string') flags.values.set(k, v);
  }
  // Values first, then the files they name: a mistyped value is reported before a missing file.
  const names = (k: string) => table[k].kind === 'input' || table[k].kind === 'model';
  for (const [k, v] of flags.values) if (!names(k)) checkValue(k, table[k], v);
  for (const [k, v] of flags.values) if (names(k)) checkValue(k, table[k], v);
  if (flags.switches.has('help')) return flags; // help is printed before positionals are counted
  const { min, max } = command.positionals ?? { min: 0, max: 0 };
  const n = parsed.positionals.length;
  if (n > max) throw new UsageError(`unexpected argument '${parsed.positionals[max]}'${max === 0 ? ' (it takes options only)' : ''}`);
  if (n < min) throw new UsageError(`bnn ${command.name} needs ${command.args ?? `${min} argument(s)`}`);
  return flags;
}

function usageFromParseError(err: Error & { code?: string }, command: CommandSpec, table: OptionTable, others: readonly CommandSpec[]): Error {
  // Node's messages quote the option: "Unknown option '--epoch'", "Option '--out <value>' argument missing".
  const quoted = /'(-{1,2}[^' ]+)/.exec(err.message)?.[1] ?? '';
  const name = quoted.replace(/^-+/, '').split('=')[0];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const near = closest(name, Object.keys(table));
      if (near) return new UsageError(`unknown option --${name}${didYouMean(near, '--')}`);
      const owner = others.find((c) => c !== command && Object.hasOwn(c.options, name));
      return new UsageError(`unknown option ${quoted.startsWith('--') ? `--${name}` : quoted}${owner ? ` (it is an option of bnn ${owner.name})` : ''}`);
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (table[name]?.kind === 'switch') return new UsageError(`--${name} takes no value`);
      // A value that starts with '-' is refused as ambiguous: --name=-1 passes it.
      if (/ambiguous/.test(err.message)) return new UsageError(`--${name} needs a value; to pass one starting with '-', write --${name}=VALUE`);
      return new UsageError(`--${name} needs a value${table[name]?.placeholder ? ` (${table[name].placeholder})` : ''}`);
    default:
      return new UsageError(`${err.message}`);
  }
}

/** `text` in lines of at most `width` characters, each after the first indented by `indent` more spaces. */
export function wrap(text: string, width: number, indent: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

const WIDTH = 100;

/** `bnn help NAME`: the usage line, the details, each option with its help. */
export function commandHelp(command: CommandSpec): string {
  const rows = Object.entries({ ...command.options, ...GLOBAL_OPTIONS }).map(([k, s]) => {
    const flag = `${k === 'help' ? '-h, ' : '    '}--${k}${s.kind === 'switch' ? '' : ` ${s.placeholder ?? (s.choices ? s.choices.join('|') : 'VALUE')}`}`;
    return [flag, s.help] as const;
  });
  const width = Math.min(34, Math.max(...rows.map(([f]) => f.length)) + 2);
  const lines = [`usage: bnn ${command.name}${command.args ? ` ${command.args}` : ''}${Object.keys(command.options).length ? ' [options]' : ''}`, '', wrap(command.summary, WIDTH, 0)];
  // Details: paragraphs separated by blank lines, each wrapped.
  if (command.details) lines.push('', command.details.trim().split(/\n\s*\n/).map((par) => wrap(par.replace(/\s*\n\s*/g, ' '), WIDTH, 0)).join('\n\n'));
  lines.push('', 'options:');
  const text = (help: string) => wrap(help, WIDTH - 2 - width, 2 + width);
  for (const [flag, help] of rows) lines.push(flag.length + 2 > width ? `  ${flag}\n  ${' '.repeat(width)}${text(help)}` : `  ${flag.padEnd(width)}${text(help)}`);
  return lines.join('\n');
}

export function positiveInt(flags: Flags, name: string): number | undefined {
  const v = flags.values.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${v}'`);
  return n;
}
