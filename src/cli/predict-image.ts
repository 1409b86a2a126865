// `bnn predict --model M --image PHOTO [--chart out.png]`: a photo (JPEG or PNG) cropped to its
// centre square, reduced to the model's input by area averaging (32x32 RGB for the CIFAR-10
// models, 28x28 gray for MNIST's), preprocessed as the model was trained (preprocessing.json),
// classified; the class probabilities printed with names, top-1 marked; --chart draws them.
import { readFileBounded } from '../io/read-bounded.js';
import { Gpu } from '../gpu/context.js';
import { DATASETS, loadPreprocessing, preprocessor } from '../data/datasets.js';
import { centreSquare, decodeImage, encodePng, toGray } from '../data/images.js';
import { loadModel } from '../io/model-files.js';
import { InferencePlan } from '../plan/plan.js';
import { argmax } from '../train/metrics.js';
import { barChart } from './chart.js';
import { UsageError, type Flags } from './flags.js';

/** The largest photo read (256 MiB); its declared pixels are bounded too (MAX_IMAGE_PIXELS). */
const MAX_IMAGE_BYTES = 256 * 2 ** 20;

export async function predictImageCommand(flags: Flags, writeAtomic: (path: string, data: Uint8Array) => Promise<void>): Promise<void> {
  const modelPath = flags.values.get('model');
  const photo = flags.values.get('image')!;
  if (!modelPath) throw new UsageError('predict needs --model path/to/model.json (or its directory)');
  const model = await loadModel(modelPath);
  const inputShape = model.spec.inputs[0].shape;
  const pre = await loadPreprocessing(modelPath, { shape: inputShape, modelName: model.name });
  if (pre.guessed) console.error(pre.guessed);
  const dataset = DATASETS[pre.dataset];
  const [h, w, c] = dataset.shape;
  if (inputShape.join('x') !== dataset.shape.join('x')) throw new UsageError(`${modelPath}: input [${inputShape.join(', ')}] is not ${dataset.title}'s ${dataset.shape.join('x')}`);
  let bytes: Uint8Array;
  try {
    bytes = await readFileBounded(photo, { maxBytes: MAX_IMAGE_BYTES });
  } catch (e) {
    throw new UsageError(`--image ${photo}: ${(e as Error).message}`);
  }
  const decoded = decodeImage(bytes, photo);
  let small = centreSquare(decoded, h);
  if (c === 1) small = toGray(small);
  if (small.width !== w) throw new UsageError(`${modelPath}: a ${h}x${w} input is not square`);
  const inputs = preprocessor(pre)(small.data, new Float32Array(h * w * c));
  const gpu = await Gpu.create({ log: (line) => console.error(line) });
  let probs: Float32Array;
  try {
    const plan = await InferencePlan.compile(gpu, model, { maxBatch: 1 });
    probs = (await plan.run(inputs)).get(model.outputs[0])!.data as Float32Array;
    plan.destroy();
  } finally {
    gpu.destroy();
  }
  const side = Math.min(decoded.width, decoded.height);
  console.log(`${photo}: ${decoded.width}x${decoded.height}, centre ${side}x${side} reduced to ${h}x${w}${c === 1 ? ' gray' : ' RGB'}; ${model.name} (${dataset.title}):`);
  const top = argmax(probs);
  const names = dataset.classes;
  const pad = Math.max(...names.map((n) => n.length));
  probs.forEach((p, i) => console.log(`${i === top ? '*' : ' '} ${(names[i] ?? String(i)).padEnd(pad)}  ${(100 * p).toFixed(2).padStart(6)}%`));
  const chart = flags.values.get('chart');
  if (chart) {
    await writeAtomic(chart, encodePng(barChart(`${model.name.replace(/_/g, ' ')}: ${photo.split(/[\\/]/).pop()}`, names, probs)));
    console.log(`chart -> ${chart}`);
  }
}
