// A narrow Bi-Real Net (the zoo's biRealNet, four stages of 8 to 64 filters, one block each) trained
// on 300 real CIFAR-10 training images (batch 30, Adam 0.005, 4 epochs): does the loss fall? After
// `npm run build`: node scripts/bireal-learns.mjs (CIFAR-10 as bnn train finds it; docs/training.md).
import { Gpu } from '../dist/src/gpu/context.js';
import { biRealNet } from '../dist/src/zoo/bireal-net.js';
import { loadCifar10 } from '../dist/src/data/cifar10-files.js';
import { fit } from '../dist/src/train/fit.js';
import { normalizeImages, CIFAR10_NORMALIZATION } from '../dist/src/ops/augment.js';
const gpu = await Gpu.create();
const train = await loadCifar10({ split: 'train', limit: 300, log: console.error });
const model = biRealNet({ filters: [8, 16, 32, 64], blocks: [1, 1, 1, 1] });
const t0 = Date.now();
await fit(gpu, model, train, {
  epochs: 4, batchSize: 30, seed: 0, optimizer: { kind: 'adam', learningRate: 0.005 },
  preprocess: (p, out) => normalizeImages(p, 3, CIFAR10_NORMALIZATION, out),
  onEpoch: (e) => console.log(`epoch ${e.epoch + 1}: train loss ${e.trainLoss.toFixed(4)}, top-1 ${(100 * e.trainTop1).toFixed(1)}%, ${e.seconds.toFixed(0)} s`),
});
console.log(`total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
gpu.destroy();
