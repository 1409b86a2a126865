// `bnn convert IN OUT [--pack]`: a model file (a Keras .h5 or .keras file, or a TF.js model.json)
// written as TF.js Layers files, model.json and one shard, into the directory OUT.
import { UsageError, type Command, type Flags } from './flags.js';
import { loadModel, saveModel } from '../io/model-files.js';

export async function convertCommand(flags: Flags): Promise<void> {
  const [, input, out] = flags.positional;
  if (/\.(json|h5|keras)$/i.test(out)) throw new UsageError(`OUT is a directory (model.json and its shard are written into it), got '${out}'`);
  const model = await loadModel(input);
  const pack = flags.switches.has('pack');
  const files = await saveModel(model, out, { packBinaryWeights: pack });
  const { stat } = await import('node:fs/promises');
  const sizes = await Promise.all(files.map(async (f) => `${f} (${(await stat(f)).size} bytes)`));
  const params = [...model.spec.weights.values()].reduce((a, w) => a + w.data.length, 0);
  console.log(`${input}: ${model.layers.length} layers, ${model.spec.weights.size} weights, ${params} parameters${pack ? ', 1-bit kernels packed' : ''}`);
  console.log(`wrote ${sizes.join(', ')}`);
}

export const CONVERT_COMMAND: Command = {
  name: 'convert',
  args: 'IN OUT',
  positionals: { min: 2, max: 2 },
  summary: 'a Keras .h5 or .keras file (or a model.json, or its directory) written as TF.js Layers files (model.json + shard) into the directory OUT, the config in its canonical form',
  options: { pack: { kind: 'switch', help: 'store 1-bit kernels as sign bits (32x smaller; this library reads them, TF.js does not)' } },
  run: convertCommand,
};
