// The models the Train tab offers, with the defaults `bnn train` uses for them (so a page run and
// a Node run of the same settings are the same run).
import { mnistCnn, mnistMlp, type Model } from 'webgpu-bnn';

export interface CatalogEntry {
  id: string;
  label: string;
  build?: (seed: number) => Model;
  learningRate: number;
  batchSize: number;
  /** Why it cannot be trained in the page yet. */
  unavailable?: string;
}

export const CATALOG: CatalogEntry[] = [
  // The seed's model as bnn train mnist-mlp builds it: Keras's default biases.
  { id: 'mnist-mlp', label: 'MNIST MLP (784-512-512-512-10, BinaryNet; integer logits: its probabilities saturate)', build: (seed) => mnistMlp({ seed, useBias: true }), learningRate: 0.001, batchSize: 300 },
  { id: 'mnist-mlp-bn', label: 'MNIST MLP with BatchNorm before the softmax', build: (seed) => mnistMlp({ seed, outputBatchNorm: true }), learningRate: 0.003, batchSize: 300 },
  { id: 'mnist-cnn', label: 'MNIST binarized CNN (conv 32-64, dense 256)', build: (seed) => mnistCnn({ seed }), learningRate: 0.001, batchSize: 100 },
  { id: 'cifar10-cnv', label: 'CIFAR-10 FINN CNV (later)', learningRate: 0.001, batchSize: 50, unavailable: 'CIFAR-10 training in the page is not available yet: the page cannot load the CIFAR-10 data set; train it with bnn train and load the model' },
  { id: 'cifar10-vgg16', label: 'CIFAR-10 binarized VGG16 (later)', learningRate: 0.001, batchSize: 50, unavailable: 'CIFAR-10 training in the page is not available yet: the page cannot load the CIFAR-10 data set; train it with bnn train and load the model' },
];

export const OPTIMIZERS = ['adam', 'sgd', 'shift_adamax', 'bop'] as const;
export type OptimizerKind = (typeof OPTIMIZERS)[number];

/** The learning rate `bnn train` starts each optimizer at for a model. */
export function defaultLearningRate(entry: CatalogEntry, kind: OptimizerKind): number {
  return kind === 'adam' ? entry.learningRate : 0.01;
}

export const MNIST_LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const CIFAR10_LABELS = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
