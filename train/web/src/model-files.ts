// Saving and loading a model in the TF.js Layers format (model.json + weight shards), the page's
// way: downloads out, a multi-file picker in (which also takes one Keras .h5 or .keras file).
// Errors say what is missing or wrong.
import { Model, ModelFormatError, PREPROCESSING_FILE, formatFromName, guessPreprocessing, loadModel, readPreprocessing, type Preprocessing } from 'webgpu-bnn';
import { download } from './dom.js';

/** model.json and its shard(s) as the library writes them (latent weights, so training can go on). */
export function modelFiles(model: Model): { name: string; data: Uint8Array | string }[] {
  const { modelJson, shards } = model.toJSON();
  const paths = (modelJson.weightsManifest as { paths: string[] }[]).flatMap((g) => g.paths);
  return [{ name: 'model.json', data: JSON.stringify(modelJson) }, ...paths.map((p, i) => ({ name: p, data: new Uint8Array(shards[i]) }))];
}

export function downloadModel(model: Model): string[] {
  const files = modelFiles(model);
  for (const f of files) download(f.name, f.data as BlobPart, f.name.endsWith('.json') ? 'application/json' : 'application/octet-stream');
  return files.map((f) => f.name);
}

/**
 * A model from picked files: one Keras .h5 / .keras file, or one .json (model.json) and the shards
 * it names, matched by file name; with its input preprocessing from a picked preprocessing.json
 * (as `bnn train` writes it), else guessed from the input shape (MNIST's pixel/127.5 - 1 when
 * nothing fits).
 */
export async function modelFromFiles(files: ArrayLike<File>): Promise<{ model: Model; preprocessing: Preprocessing }> {
  const all = Array.from(files);
  const pre = all.find((f) => f.name === PREPROCESSING_FILE);
  const list = all.filter((f) => f !== pre);
  const withPreprocessing = async (model: Model) => ({
    model,
    preprocessing: pre ? readPreprocessing(pre.name, await pre.text()) : (guessPreprocessing({ shape: model.spec.inputs[0].shape, modelName: model.name }) ?? { dataset: 'mnist' as const }),
  });
  const keras = list.filter((f) => formatFromName(f.name) === 'h5' || formatFromName(f.name) === 'keras');
  if (keras.length > 0) {
    if (list.length > 1) throw new ModelFormatError(`${list.length} files picked (${list.map((f) => f.name).join(', ')}): a Keras ${keras[0].name} holds the whole model, pick it alone`);
    return withPreprocessing(await loadModel(keras[0]));
  }
  const jsons = list.filter((f) => f.name.endsWith('.json'));
  if (jsons.length !== 1) {
    throw new ModelFormatError(
      jsons.length === 0
        ? `no .json among the ${list.length} file(s) picked (${list.map((f) => f.name).join(', ') || 'none'}): select model.json together with its .bin weight files`
        : `${jsons.length} .json files picked (${jsons.map((f) => f.name).join(', ')}): select one model.json and its .bin files`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(await jsons[0].text());
  } catch (e) {
    throw new ModelFormatError(`${jsons[0].name}: not valid JSON (${(e as Error).message})`);
  }
  const byName = new Map(list.map((f) => [f.name, f]));
  const model = await Model.fromJSON(json, async (path) => {
    const base = path.split('/').pop()!;
    const file = byName.get(path) ?? byName.get(base);
    if (!file) throw new ModelFormatError(`${jsons[0].name} names the weight file "${path}", which was not picked: select it together with model.json (picked: ${list.map((f) => f.name).join(', ')})`);
    return file.arrayBuffer();
  });
  return withPreprocessing(model);
}
