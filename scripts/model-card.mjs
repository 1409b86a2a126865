// Writes a shipped model's card, models/NAME/README.md, from facts only: the architecture from
// `bnn summary`, the figures from a fresh `bnn eval` on all 10,000 test images (and, with --python,
// the numpy evaluation scripts/eval_shipped_model.py), the recipe, command, epochs, device and dates
// from the run's record (RUN/training.json, written by bnn train) or, for runs older than that
// record, from the training log; the Keras figure from bench/results/keras-reference-NAME.json;
// with --recalibration, the record bnn recalibrate-bn wrote for a model recalibrated after training.
// Also rewrites models/index.json (the shipped names, for pages) and the README's accuracy table
// (between <!-- models:begin --> and <!-- models:end -->: each shipped model's figures from its
// card, beside the Keras reference and the published anchors). Needs the build (npm run build).
//
// Usage:
//   node scripts/model-card.mjs NAME --run RUN_DIR [--python /work/.venv-tf/bin/python] [--keras FILE] [--recalibration DIR/recalibration.json]
//   node scripts/model-card.mjs NAME --log RUN.log --command "bnn train mnist-mlp --epochs 30 --out DIR" [...]
//   node scripts/model-card.mjs --readme        (only the index and the README's table, from the cards there are)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MODELS = join(REPO, 'models');
const BNN = join(REPO, 'dist/src/cli/bnn.js');

/** What each trainable model is; the rest of the card is measured. */
const RECIPES = {
  'mnist-mlp': "The seed's binarized MLP for MNIST as written (Larq's BinaryNet example): 784-512-512-512-10, inputs and weights binarized by `ste_sign` on every QuantDense (binary inputs), `weight_clip` on the latent weights, Keras's default biases (`use_bias=True`), BatchNormalization (momentum 0.99, no scale) after each hidden layer and none before the softmax, so its scores are integers (sums of +-1 products) plus a bias.",
  'mnist-mlp-bn': "mnist-mlp's binarized MLP (784-512-512-512-10, `ste_sign` on every QuantDense's inputs and weights, `weight_clip`) with BatchNormalization after every QuantDense, the last one too, before the softmax (as BinaryNet and FINN's LFC write it), and no biases: each QuantDense is followed by a BatchNorm, whose offset does their work (the Keras reference keeps Keras's default biases; in front of a BatchNorm they change nothing it computes at inference).",
};

const pct = (x, digits = 2) => `${(100 * x).toFixed(digits)}%`;

function fail(message) {
  console.error(`model-card: ${message}`);
  process.exit(2);
}

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { run: { type: 'string' }, log: { type: 'string' }, command: { type: 'string' }, keras: { type: 'string' }, python: { type: 'string' }, readme: { type: 'boolean' }, recalibration: { type: 'string' } },
});

/** Writes models/index.json and the README's table of shipped models from the cards' facts. */
function writeIndexAndReadme() {
  const names = readdirSync(MODELS).filter((d) => /^[a-z0-9]+(-[a-z0-9]+)*$/.test(d) && existsSync(join(MODELS, d, 'model.json'))).sort();
  writeFileSync(join(MODELS, 'index.json'), `${JSON.stringify({ models: names }, null, 2)}\n`);
  const keras = (n) => {
    const f = join(REPO, `bench/results/keras-reference-${n}.json`);
    return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : undefined;
  };
  const facts = (n) => {
    const card = join(MODELS, n, 'README.md');
    const m = existsSync(card) ? /<!-- facts: (\{.*\}) -->/.exec(readFileSync(card, 'utf8')) : null;
    return m ? JSON.parse(m[1]) : undefined;
  };
  const all = [...new Set([...names, ...readdirSync(join(REPO, 'bench/results')).map((f) => /^keras-reference-(.+)\.json$/.exec(f)?.[1]).filter(Boolean)])].sort();
  const rows = all.map((n) => {
    const f = names.includes(n) ? facts(n) : undefined;
    const k = keras(n);
    const ours = f ? `**${pct(f.top1)}** | ${pct(f.top5)} | ${f.loss.toFixed(4)} | ${f.epochs}${f.recalibrated ? ', then BN recalibrated' : ''} | ${f.numpyAgrees === undefined ? 'not run' : f.numpyAgrees ? 'agrees' : '**differs**'}` : 'not shipped yet | | | |';
    const ks = k ? `${pct(k.final.test_top1)} after ${k.final.epoch} epochs${k.final.test_top1_as_trained !== undefined ? `, BN recalibrated (${pct(k.final.test_top1_as_trained)} as trained)` : ''} (best: ${pct(k.best.test_top1)}, epoch ${k.best.epoch})` : 'not run';
    return `| ${f ? `[${n}](models/${n}/README.md)` : n} | ${ours} | ${ks} |`;
  });
  const block = [
    '| model | test top-1 (argmax) | top-5 | loss | epochs | numpy evaluation | the same recipe in Keras 3.15 / TF 2.21 |',
    '|---|---:|---:|---:|---:|---|---|',
    ...rows,
    '',
    'All 10,000 MNIST test images, counted as Keras counts (top-1: the argmax; top-5: `in_top_k`); the shipped figures by `bnn eval` on the files in models/, checked by `scripts/eval_shipped_model.py` (numpy, reading the files as documented); Keras by `scripts/keras_reference_mlp.py`, seed 0. Published anchors for binary MLPs on MNIST, after 1000 epochs: BinaryNet 3x4096, 0.96% error (99.04%); Brevitas SFC 256x3, 97.81%; LFC 1024x3, 98.88%.',
  ].join('\n');
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const pattern = /<!-- models:begin -->[\s\S]*?<!-- models:end -->/;
  if (!pattern.test(readme)) fail('README.md has no <!-- models:begin --> ... <!-- models:end --> block');
  writeFileSync(join(REPO, 'README.md'), readme.replace(pattern, () => `<!-- models:begin -->\n${block}\n<!-- models:end -->`));
  return names;
}

if (flags.readme) {
  const names = writeIndexAndReadme();
  console.log(`wrote models/index.json (${names.join(', ') || 'none'}) and the README's table`);
  process.exit(0);
}
const name = positionals[0];
if (!name || positionals.length > 1) fail('usage: node scripts/model-card.mjs NAME (--run RUN_DIR | --log RUN.log --command "bnn train ...") [--python PY] [--keras FILE]');
const dir = join(MODELS, name);
for (const f of ['model.json', 'preprocessing.json']) if (!existsSync(join(dir, f))) fail(`${relative(REPO, join(dir, f))} is missing: ship the model first (bnn convert RUN_DIR models/${name} --pack)`);
if (!existsSync(BNN)) fail('dist/ is missing: npm run build');
if (!!flags.run === !!flags.log) fail('give --run RUN_DIR (its training.json) or --log RUN.log with --command');
if (flags.log && !flags.command) fail('--log needs --command: the exact `bnn train ...` command the log came from (the log does not hold it)');

const bnn = (args) => execFileSync(process.execPath, [BNN, ...args], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
const day = (iso) => iso.slice(0, 10);
/** A path as the card shows it: relative inside the repository, absolute outside it. */
const shown = (p) => (relative(REPO, resolve(p)).startsWith('..') ? resolve(p) : relative(REPO, resolve(p)));

// The run's record: training.json as bnn train writes it, or the same facts read from its log (src/cli/training-record.ts).
const { recordFromLog } = await import(join(REPO, 'dist/src/cli/training-record.js'));
const record = flags.run
  ? { ...JSON.parse(readFileSync(join(flags.run, 'training.json'), 'utf8')), source: `${shown(join(flags.run, 'training.json'))} (bnn train's record)` }
  : {
      ...recordFromLog(readFileSync(flags.log, 'utf8'), flags.command.replace(/^(npx )?bnn /, '').split(/\s+/), statSync(flags.log).mtime.toISOString()),
      source: `${shown(flags.log)} (the training log; the run predates training.json; its end date is the log's last write)`,
    };
if (!record.finished) fail(`the run has not finished (${record.epochs.length} of ${record.run.epochs} epochs in its record): ship finished runs only`);
const last = record.epochs.at(-1);
// bnn recalibrate-bn's record, when the shipped model is the run's last model with its BatchNorm statistics re-estimated.
const recalibration = flags.recalibration ? JSON.parse(readFileSync(statSync(flags.recalibration).isDirectory() ? join(flags.recalibration, 'recalibration.json') : flags.recalibration, 'utf8')) : undefined;
if (recalibration && recalibration.trainAfter.top1 < recalibration.trainBefore.top1) fail(`${flags.recalibration}: the recalibration lowered training-split top-1 (${pct(recalibration.trainBefore.top1)} to ${pct(recalibration.trainAfter.top1)}): ship the model as trained`);
const testTop1 = (e) => (e.testRecalibrated ?? e.test)?.top1 ?? -1; // with --recalibrate-bn the saved model is the recalibrated one
const best = record.epochs.reduce((a, e) => (testTop1(e) > testTop1(a) ? e : a), last);

console.error(`model-card: bnn summary, bnn eval on ${relative(REPO, dir)} ...`);
const summary = bnn(['summary', dir]).trimEnd();
const evaluation = JSON.parse(bnn(['eval', '--model', dir, '--json']).trim().split('\n').pop());
let numpy;
if (flags.python) {
  console.error('model-card: scripts/eval_shipped_model.py ...');
  numpy = JSON.parse(execFileSync(flags.python, [join(REPO, 'scripts/eval_shipped_model.py'), dir, '--json'], { encoding: 'utf8' }).trim());
}
const kerasFile = flags.keras ?? join(REPO, `bench/results/keras-reference-${name}.json`);
const keras = existsSync(kerasFile) ? JSON.parse(readFileSync(kerasFile, 'utf8')) : undefined;

// The model the web app's Predict and Inspect tabs start with (train/web/src/shipped-model.ts).
const webStartsWith = /export const SHIPPED_MODEL = '([^']+)'/.exec(readFileSync(join(REPO, 'train/web/src/shipped-model.ts'), 'utf8'))?.[1];
const files = readdirSync(dir).filter((f) => f !== 'README.md').sort().map((f) => `\`${f}\` (${statSync(join(dir, f)).size.toLocaleString('en')} bytes)`);
const run = record.run;
const optimizer = run.optimizer.text ?? `${run.optimizer.kind} lr ${run.optimizer.learningRate}${run.optimizer.schedule && run.optimizer.schedule !== 'constant' ? `, ${run.optimizer.schedule} schedule` : ''}${run.optimizer.lrScale && run.optimizer.lrScale !== 'none' ? `, lr scale ${run.optimizer.lrScale}` : ''}`;
const commands = record.sessions.map((s) => `bnn ${s.argv.join(' ')}`);
const devices = [...new Set(record.sessions.map((s) => s.device).filter(Boolean))];
const started = record.sessions[0].started; // '' when read from a log
const agree = numpy && numpy.top1 === evaluation.top1 && numpy.top5 === evaluation.top5 && Math.abs(numpy.loss - evaluation.loss) <= 1e-4 * Math.max(1, evaluation.loss);

const card = `<!-- Written by scripts/model-card.mjs from the run's record, bnn summary and bnn eval; do not edit by hand: re-run it. -->
<!-- facts: ${JSON.stringify({ top1: evaluation.top1, top5: evaluation.top5, loss: evaluation.loss, count: evaluation.count, epochs: last.epoch, ...(recalibration && { recalibrated: true }), ...(numpy && { numpyAgrees: agree }) })} -->
# ${name}

${RECIPES[name] ?? `A model trained by \`bnn train ${run.model}\`.`}

Test set of MNIST, all ${evaluation.count.toLocaleString('en')} images, counted as Keras counts (top-1: the argmax, the first maximum; top-5: \`in_top_k\`):

| evaluation | test top-1 | test top-5 | test loss |
|---|---:|---:|---:|
| \`bnn eval --model ${name}\` (this engine, ${evaluation.device}) | **${pct(evaluation.top1)}** | ${pct(evaluation.top5)} | ${evaluation.loss.toFixed(4)} |
${numpy ? `| \`scripts/eval_shipped_model.py\` (numpy ${numpy.numpy}, reads the files as docs/executor.md documents them) | ${pct(numpy.top1)} | ${pct(numpy.top5)} | ${numpy.loss.toFixed(4)} |\n` : ''}${keras ? `| the same recipe in Keras ${keras.tools.keras} / TensorFlow ${keras.tools.tensorflow} (\`${keras.command}\`, seed ${keras.recipe.seed}), after ${keras.final.epoch} epochs${keras.final.test_top1_as_trained !== undefined ? `, BatchNorm recalibrated (as trained: ${pct(keras.final.test_top1_as_trained)} top-1)` : ''} | ${pct(keras.final.test_top1)} | ${pct(keras.final.test_top5)} | ${keras.final.test_loss.toFixed(4)} |\n| the same in Keras, its best epoch (${keras.best.epoch}) | ${pct(keras.best.test_top1)} | ${pct(keras.best.test_top5)} | ${keras.best.test_loss.toFixed(4)} |\n` : ''}${recalibration && last.test ? `| the last epoch's model before BatchNorm recalibration (as training measured it) | ${pct(last.test.top1)} | ${pct(last.test.top5)} | ${last.test.loss.toFixed(4)} |\n` : ''}
${numpy ? (agree ? 'The numpy evaluation agrees with `bnn eval` (top-1 and top-5 equal, loss within 1e-4 relative).' : '**The numpy evaluation does not agree with `bnn eval`.**') : 'Not checked by the numpy evaluation (run with --python).'}

## Recipe

| | |
|---|---|
| command | ${commands.map((c) => `\`${c}\``).join(', then ')} |
| epochs | ${last.epoch} (of ${run.epochs}); the model is the last epoch's, not the best one's${recalibration ? ', its BatchNorm statistics then recalibrated' : ''} |${recalibration ? `\n| BatchNorm recalibration | \`bnn ${recalibration.argv.join(' ')}\`: every BatchNormalization's moving mean and variance re-estimated as the average over one pass of ${recalibration.samples.toLocaleString('en')} training images (batch ${recalibration.batchSize}, in order, no augmentation), weights unchanged. Kept because it raised top-1 on the training split (with the moving statistics) from ${pct(recalibration.trainBefore.top1)} to ${pct(recalibration.trainAfter.top1)}: the decision used no test labels |` : ''}
| batch | ${run.batchSize} |
| optimizer | ${optimizer} |
| seed | ${run.seed} (weights and shuffling) |
| data | MNIST's 60,000 training images, inputs \`pixel / 127.5 - 1\` (preprocessing.json)${run.shift ? `, each training image shifted at random by up to ${run.shift} pixel(s) (\`--shift\`)` : ''} |
| device | ${devices.join('; ')} |
| date | ${started ? `${day(started)} to ` : ''}${day(record.finished)} |
| record | ${record.source} |

Test figures after each epoch, as training measured them (the last row is the shipped model${recalibration ? ' before its recalibration' : ''}; best test top-1: epoch ${best.epoch}, ${pct(testTop1(best))}):

| epoch | train loss | train top-1 | test top-1 | test top-5 | test loss | seconds |
|---:|---:|---:|---:|---:|---:|---:|
${record.epochs.map((e) => `| ${e.epoch} | ${e.trainLoss.toFixed(4)} | ${pct(e.trainTop1)} | ${e.test ? pct(e.test.top1) : ''}${e.testRecalibrated ? ` (BN recalibrated: ${pct(e.testRecalibrated.top1)})` : ''} | ${e.test ? pct(e.test.top5) : ''} | ${e.test?.loss !== undefined ? e.test.loss.toFixed(4) : ''} | ${e.seconds.toFixed(0)} |`).join('\n')}

## Architecture (\`bnn summary ${name}\`)

\`\`\`text
${summary}
\`\`\`

## Files

${files.join(', ')}; the binary kernels are stored as sign bits (\`b1\`, docs/executor.md, "The model files"), so the latent weights are not kept: this model is for inference and fine-tuning starts from +-1 weights.

## Use

\`\`\`ts
import { pretrained, shippedPreprocessing } from 'webgpu-bnn';
const model = await pretrained('${name}'); // in a page: served under models/ (docs/executor.md, "Shipped models")
const preprocessing = await shippedPreprocessing('${name}'); // how pixels become its input
\`\`\`

\`bnn predict --model ${name} --image digit.png\`, \`bnn eval --model ${name}\`, \`bnn summary ${name}\`; ${webStartsWith === name ? 'in the web app it is the model the Predict and Inspect tabs start with.' : `in the web app, load its \`model.json\` and shard on the Train tab (the Predict and Inspect tabs start with ${webStartsWith}).`}
`;
writeFileSync(join(dir, 'README.md'), card);
const names = writeIndexAndReadme();
console.log(`wrote ${relative(REPO, join(dir, 'README.md'))} (bnn eval: top-1 ${pct(evaluation.top1)}, top-5 ${pct(evaluation.top5)}, loss ${evaluation.loss.toFixed(4)}${numpy ? `; numpy ${agree ? 'agrees' : 'DISAGREES'}` : ''}), models/index.json (${names.join(', ')}) and the README's table`);
if (numpy && !agree) process.exitCode = 1;
