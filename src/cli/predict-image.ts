// `bnn predict --model M --image PHOTO [--chart out.png]`: a photo (JPEG or PNG) made into the
// model's input: for MNIST models the digit as MNIST's were made (data/digit.ts: inverted if on a
// light background, boxed into 20x20, centred by mass in 28x28), for CIFAR-10's the centre square
// reduced to 32x32 RGB by area averaging; preprocessed as the model was trained (preprocessing.json),
// classified; the class probabilities printed with names, top-1 marked; --chart draws them.
import { readFileBounded } from '../io/read-bounded.js';
import { Gpu } from '../gpu/context.js';
import { DATASETS, loadPreprocessing, preprocessor } from '../data/datasets.js';
import { prepareDigit } from '../data/digit.js';
import { centreSquare, decodeImage, encodePng } from '../data/images.js';
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
  if (h !== w) throw new UsageError(`${modelPath}: a ${h}x${w} input is not square`);
  // MNIST models get a digit as MNIST's were made (prepareDigit, as the web app does); others the centre square.
  const digit = pre.dataset === 'mnist' ? prepareDigit(decoded, { size: h }) : undefined;
  const small = digit ? digit.pixels : centreSquare(decoded, h);
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
  const how = digit
    ? `the digit ${digit.empty ? 'not found (a blank input)' : `boxed into ${Math.round((h * 20) / 28)}x${Math.round((h * 20) / 28)}, centred by mass in ${h}x${w}`}${digit.inverted ? ', light background inverted' : ''}`
    : `centre ${side}x${side} reduced to ${h}x${w}${c === 1 ? ' gray' : ' RGB'}`;
  console.log(`${photo}: ${decoded.width}x${decoded.height}, ${how}; ${model.name} (${dataset.title}):`);
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
