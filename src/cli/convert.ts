// `bnn convert IN OUT [--pack]`: a model file (a Keras .h5 or .keras file, or a TF.js model.json)
// written as TF.js Layers files, model.json and one shard, into the directory OUT; the
// preprocessing.json beside IN comes along (shipping a trained run: bnn convert RUN models/NAME --pack).
import { UsageError, type Command, type Flags } from './flags.js';
import { resolveModelArgument } from './model-argument.js';
import { dirname, join } from 'node:path';
import { loadModel, saveModel } from '../io/model-files.js';
import { PREPROCESSING_FILE, loadPreprocessing, savePreprocessing } from '../data/datasets.js';

export async function convertCommand(flags: Flags): Promise<void> {
  const [, name, out] = flags.positional;
  const input = await resolveModelArgument(name, 'IN');
  if (/\.(json|h5|keras)$/i.test(out)) throw new UsageError(`OUT is a directory (model.json and its shard are written into it), got '${out}'`);
  const model = await loadModel(input);
  const pack = flags.switches.has('pack');
  const files = await saveModel(model, out, { packBinaryWeights: pack });
  // The input's preprocessing travels with the model (read and checked, then written whole).
  const { stat } = await import('node:fs/promises');
  const inStat = await stat(input).catch(() => null);
  if (inStat && (await stat(join(inStat.isDirectory() ? input : dirname(input), PREPROCESSING_FILE)).catch(() => null))) {
    const { guessed: _, ...p } = await loadPreprocessing(input, { shape: model.spec.inputs[0].shape, modelName: model.name });
    await savePreprocessing(out, p);
    files.push(join(out, PREPROCESSING_FILE));
  }
  const sizes = await Promise.all(files.map(async (f) => `${f} (${(await stat(f)).size} bytes)`));
  const params = [...model.spec.weights.values()].reduce((a, w) => a + w.data.length, 0);
  console.log(`${name}: ${model.layers.length} layers, ${model.spec.weights.size} weights, ${params} parameters${pack ? ', 1-bit kernels packed' : ''}`);
  console.log(`wrote ${sizes.join(', ')}`);
}

export const CONVERT_COMMAND: Command = {
  name: 'convert',
  args: 'IN OUT',
  positionals: { min: 2, max: 2 },
  summary: 'a Keras .h5 or .keras file (or a model.json, or its directory) written as TF.js Layers files (model.json + shard) into the directory OUT, the config in its canonical form; a preprocessing.json beside IN is copied',
  options: { pack: { kind: 'switch', help: 'store 1-bit kernels as sign bits (32x smaller; this library reads them, TF.js does not)' } },
  run: convertCommand,
};
