#!/usr/bin/env node
// The `bnn` command: one table of commands (each declares its options, parsed strictly, and its
// help), the dispatch, and how it ends (report-error.ts). Adding a command is one entry in COMMANDS.
import { fileURLToPath } from 'node:url';
import { Gpu } from '../gpu/context.js';
import { BENCH_ALL_COMMANDS } from './bench-all.js';
import { BENCH_COMMANDS, benchSuiteCommand } from './bench-commands.js';
import { CONVERT_COMMAND } from './convert.js';
import { runFiltered } from './dawn-filter.js';
import { UsageError, closest, commandHelp, parse, wrap, type Command, type Flags } from './flags.js';
import { KERNELS_COMMAND } from './kernels-command.js';
import { MODEL_COMMANDS } from './model-commands.js';
import { RECALIBRATE_COMMAND } from './recalibrate-command.js';
import { reportError } from './report-error.js';
import { TRAIN_COMMANDS, demoTraining } from './train-commands.js';
import { TUNE_COMMANDS } from './tune-command.js';

async function infoCommand(flags: Flags): Promise<void> {
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
    const report = { adapter: gpu.adapter, name: gpu.describe(), tuning: gpu.tuning, tuningKind: gpu.tuningKind, features: gpu.features, limits };
    if (flags.switches.has('json')) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    console.log(`adapter:  ${report.name}`);
    console.log(`tuning:   ${gpu.tuning} (the ${gpu.tuningKind === 'gpu' ? 'GPU' : 'CPU-adapter'} defaults${gpu.tuning === 'auto' ? ` where the table has no winner; table: ${gpu.tuned.source}` : ''}; BNN_TUNING=gpu takes the GPU ones anywhere, BNN_TUNING=auto the winners of \`bnn tune\`)`);
    console.log(`features: ${Object.entries(gpu.features).map(([k, v]) => `${k} ${v ? 'yes' : 'no'}`).join(', ')}`);
    for (const [k, v] of Object.entries(limits)) console.log(`${k.padEnd(36)} ${v}`);
  } finally {
    gpu.destroy();
  }
}

const INFO: Command = {
  name: 'info',
  summary: 'the WebGPU adapter this machine gives, its features and limits',
  options: { json: { kind: 'switch', help: 'print it as JSON' } },
  run: infoCommand,
};

const DEMO: Command = {
  name: 'demo',
  summary: 'a tour: adapter info, the GEMM benchmark, the MNIST MLP binary against fp32, one training step, then an MLP trained one epoch, evaluated and used to classify test digits',
  details: 'The model is saved in runs/demo-mnist-mlp-bn. Takes about 10 minutes on a software adapter.',
  options: {},
  run: async (flags) => {
    for (const part of [infoCommand, (f: Flags) => benchSuiteCommand('gemm', f), (f: Flags) => benchSuiteCommand('mlp', f), (f: Flags) => benchSuiteCommand('train', f)]) {
      await part(flags);
      console.log('');
    }
    await demoTraining(async (argv) => {
      await runCommand(argv, false);
    });
  },
};

/** Every command, in the order `bnn help` lists them. */
const COMMANDS: Command[] = [INFO, ...BENCH_ALL_COMMANDS, ...BENCH_COMMANDS, ...TUNE_COMMANDS, KERNELS_COMMAND, ...MODEL_COMMANDS, CONVERT_COMMAND, ...TRAIN_COMMANDS, RECALIBRATE_COMMAND, DEMO];

/** Command names are one word, or a group and a word ('bench gemm'). */
const GROUPS = new Set(COMMANDS.filter((c) => c.name.includes(' ')).map((c) => c.name.split(' ')[0]));

function overview(group?: string): string {
  const listed = COMMANDS.filter((c) => group === undefined || c.name.startsWith(`${group} `));
  const width = Math.max(...listed.map((c) => c.name.length)) + 2;
  const intro = group ? `usage: bnn ${group} <name> [options]\n\n${group} commands:` : 'usage: bnn <command> [options]\n\ncommands:';
  return [intro, ...listed.map((c) => `  ${c.name.padEnd(width)}${wrap(c.summary, 100 - 2 - width, 2 + width)}`), '', `bnn help COMMAND (or bnn COMMAND --help) shows a command's options; --debug adds stack traces to errors.`].join('\n');
}

/** The command `words` name (the longest match), with the words after it. */
function findCommand(argv: string[]): { command?: Command; rest: string[]; group?: string; word?: string } {
  const [first, second] = argv;
  const two = COMMANDS.find((c) => c.name === `${first} ${second}`);
  if (two) return { command: two, rest: argv.slice(2) };
  const one = COMMANDS.find((c) => c.name === first);
  if (one) return { command: one, rest: argv.slice(1) };
  if (first !== undefined && GROUPS.has(first)) return { group: first, word: second?.startsWith('-') ? undefined : second, rest: argv.slice(1) };
  return { word: first, rest: argv.slice(1) };
}

function unknownCommand(found: { group?: string; word?: string }): UsageError {
  if (found.group !== undefined) {
    const names = COMMANDS.filter((c) => c.name.startsWith(`${found.group} `)).map((c) => c.name.split(' ')[1]);
    if (found.word === undefined) return new UsageError(`${found.group} needs a name: ${names.join(', ')}`);
    const near = closest(found.word, names);
    return new UsageError(`no command 'bnn ${found.group} ${found.word}'${near ? ` (did you mean bnn ${found.group} ${near}?)` : ''}; there are: ${names.join(', ')}`);
  }
  const near = closest(found.word ?? '', [...COMMANDS.map((c) => c.name.split(' ')[0]), 'help']);
  return new UsageError(`unknown command '${found.word}'${near ? ` (did you mean bnn ${near}?)` : ''}`);
}

/** `bnn help [COMMAND]`, `bnn --help`, `bnn COMMAND --help`: the text, never a run. */
function helpFor(words: string[]): string {
  if (words.length === 0) return overview();
  const found = findCommand(words);
  if (found.command) return commandHelp(found.command);
  if (found.group !== undefined && found.word === undefined) return overview(found.group);
  throw unknownCommand(found);
}

/** Parses `argv` and runs its command (or prints help). */
async function runCommand(argv: string[], filtered: boolean): Promise<number> {
  // `bnn --debug train ...`: the global option may come before the command too.
  if (argv[0] === '--debug') argv = [...argv.slice(1), '--debug'];
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
    console.log(overview());
    return 0;
  }
  if (argv[0] === 'help') {
    console.log(helpFor(argv.slice(1).filter((a) => !a.startsWith('-'))));
    return 0;
  }
  const found = findCommand(argv);
  if (!found.command) {
    if (found.group !== undefined && found.word === undefined && found.rest.some((a) => a === '--help' || a === '-h')) {
      console.log(overview(found.group));
      return 0;
    }
    throw unknownCommand(found);
  }
  const flags = parse(found.command, found.rest, COMMANDS);
  if (flags.switches.has('help')) {
    console.log(commandHelp(found.command));
    return 0;
  }
  // The GPU commands run in a child whose stderr is filtered (dawn-filter.ts), unless --debug.
  const child = filtered && !flags.switches.has('debug') ? runFiltered(fileURLToPath(import.meta.url), argv) : undefined;
  if (child) return child;
  await found.command.run(flags);
  return process.exitCode === undefined ? 0 : Number(process.exitCode);
}

const argv = process.argv.slice(2);
const debug = argv.includes('--debug') || process.env.BNN_DEBUG === '1';
const commandName = (() => {
  const words = argv.filter((a) => a !== '--debug');
  const f = findCommand(words[0] === 'help' ? words.slice(1) : words);
  return f.command?.name ?? f.group;
})();
runCommand(argv, !debug).then(
  (status) => process.exit(status), // Dawn's instance keeps the process alive otherwise
  (err: unknown) => process.exit(reportError(err, { debug, command: commandName })),
);
