// The zoo by name, for commands that take a model by name instead of a file (bnn summary).
import type { Model } from '../model/model.js';
import { biRealNet } from './bireal-net.js';
import { cifar10Vgg16 } from './cifar10-vgg16.js';
import { finnCnv } from './finn-cnv.js';
import { mnistCnn } from './mnist-cnn.js';
import { mnistMlp } from './mnist-mlp.js';

export const ZOO: Readonly<Record<string, { description: string; build: () => Model }>> = {
  'mnist-mlp': { description: "Larq's BinaryNet MLP for MNIST", build: () => mnistMlp() },
  'mnist-cnn': { description: 'a binarized MNIST CNN: conv 32-64, dense 256', build: () => mnistCnn() },
  'cifar10-vgg16': { description: 'a binarized VGG16 for CIFAR-10', build: () => cifar10Vgg16() },
  'cifar10-vgg16-float': { description: 'the float VGG16 it binarizes', build: () => cifar10Vgg16({ float: true }) },
  'cifar10-cnv': { description: "FINN's CNV (1-bit weights and activations)", build: () => finnCnv() },
  'cifar10-bireal': { description: 'a Bi-Real Net 18 style binary ResNet with Add shortcuts', build: () => biRealNet() },
};
