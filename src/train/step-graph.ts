// The model's graph as training steps (issue 16): one step per layer (layer-step.ts; merges read
// several values), wired by the values they read, and the two walks of a training step over it.
// Forward in topological order: a value read by several layers is handed out as shared reads
// (tensor-handles.ts), its storage returned to the arena when the last reader is done with it.
// Backward in reverse: every reader of a value comes after it, so when its producer is reached the
// value's gradient is complete: the readers' gradients summed on the GPU (fan-out), one add each.
import type { Gpu } from '../gpu/context.js';
import type { Model } from '../model/model.js';
import { getQuantizer } from '../model/quantizers.js';
import type { LayerSpec } from '../model/layer-config.js';
import { add, type ChannelActivation } from '../ops/elementwise.js';
import type { Shape, Tensor } from '../tensor.js';
import { BatchNormStep } from './batchnorm-step.js';
import type { LayerStep, MergeStep, StepContext, TrainKernels } from './layer-step.js';
import { ConvOp, DenseOp } from './linear-ops.js';
import { isSignQuantizer, LinearStep } from './linear-step.js';
import { AddStep, ConcatenateStep } from './merge-steps.js';
import { ElementwiseStep, GradientQuantizerStep, PadStep, PoolStep, ReshapeStep } from './shape-steps.js';
import { shareReads } from './tensor-handles.js';

/** The model cannot be trained here (yet): names the layer and what is missing. */
export class TrainError extends Error {
  override name = 'TrainError';
}

export interface StepNode {
  step: LayerStep | MergeStep;
  /** The values it reads, in order (one value may be read twice: Add(x, x)). */
  reads: number[];
  /** The value it writes. */
  writes: number;
  /** Its backward runs: it has parameters, or reads a value whose gradient is needed. Otherwise it runs 'frozen' (keeps nothing). */
  backward: boolean;
}

/** Values: 0 is the model's input, node i writes value i + 1. */
export interface StepGraph {
  nodes: StepNode[];
  /** Per value: how many times it is read (by nodes, and the logits once by the loss). */
  readers: number[];
  /** Per value: whether the loss's gradient is wanted (a layer with parameters made it, or one of its inputs). */
  needsGrad: boolean[];
  /** The value the loss reads: the logits before the model's softmax. */
  logits: number;
  inputShape: Shape;
}

const isMerge = (s: LayerStep | MergeStep): s is MergeStep => 'merge' in s && s.merge === true;

export function destroySteps(graph: Pick<StepGraph, 'nodes'>): void {
  for (const n of graph.nodes) if (!isMerge(n.step)) n.step.destroy();
}

/** The steps that have parameters, prepare, sync and moving statistics: every single-input step. */
export function layerStepsOf(graph: StepGraph): LayerStep[] {
  return graph.nodes.map((n) => n.step).filter((s): s is LayerStep => !isMerge(s));
}

/**
 * Runs every step's forward in topological order from `input` (lent: never released) and returns
 * the logits (owned by the caller). `contextOf` gives a node's context ('frozen' where no backward
 * will run).
 */
export async function forwardGraph(graph: StepGraph, input: Tensor, contextOf: (n: StepNode) => StepContext): Promise<Tensor> {
  const pending: Tensor[][] = new Array(graph.readers.length);
  const hand = (v: number, t: Tensor) => {
    if (graph.readers[v] === 0) t.release(); // read by nobody (the model's input of a graph that ignores it)
    else pending[v] = shareReads(t, graph.readers[v]);
  };
  hand(0, input);
  for (const n of graph.nodes) {
    const xs = n.reads.map((v) => pending[v].pop()!);
    const ctx = contextOf(n);
    hand(n.writes, isMerge(n.step) ? await n.step.forward(ctx, xs) : await n.step.forward(ctx, xs[0]));
  }
  const logits = pending[graph.logits].pop()!;
  if (pending.some((p) => p?.length)) throw new Error('forwardGraph: a value was left unread (the graph is checked when built)');
  return logits;
}

/** Runs the backward of every node that has one, from the loss's dL/dlogits (taken), summing the gradients of values read several times. */
export async function backwardGraph(graph: StepGraph, dLogits: Tensor, ctx: StepContext): Promise<void> {
  const grads = new Map<number, Tensor>([[graph.logits, dLogits]]);
  const accumulate = async (v: number, dx: Tensor, by: string) => {
    const sum = grads.get(v);
    if (!sum) return void grads.set(v, dx);
    // The fan-out: this reader's gradient added to the others' (one f32 add per element).
    grads.set(v, await add(ctx.gpu, sum, dx, { label: `${by}.gradient.sum` }));
    sum.release();
    dx.release();
  };
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i];
    if (!n.backward) continue;
    const dy = grads.get(n.writes);
    if (!dy) throw new Error(`backwardGraph: no gradient reached "${n.step.name}" (the graph is checked when built)`);
    grads.delete(n.writes);
    const dxs = isMerge(n.step) ? await n.step.backward(ctx, dy) : [await n.step.backward(ctx, dy)];
    for (const [k, dx] of dxs.entries()) {
      if (!dx) continue;
      if (graph.needsGrad[n.reads[k]]) await accumulate(n.reads[k], dx, n.step.name);
      else dx.release();
    }
  }
  for (const g of grads.values()) g.release();
}

/**
 * The model as a graph of training steps, checked: what this trainer covers. One input, one
 * output ending in a softmax (an Activation layer, or the output layer's activation): the loss
 * takes the logits before it. Every layer must lead to that output.
 */
export function buildStepGraph(gpu: Gpu, model: Model, kernels: TrainKernels): StepGraph {
  const spec = model.spec;
  if (spec.inputs.length !== 1 || spec.outputs.length !== 1) throw new TrainError(`Trainer: a model with one input and one output (for now); "${spec.name}" has ${spec.inputs.length} and ${spec.outputs.length}`);
  const at = (l: LayerSpec) => `layer "${l.name}" (${l.class})`;
  const byName = new Map(spec.layers.map((l) => [l.name, l]));
  const out = byName.get(spec.outputs[0])!;
  const softmaxLayer = out.class === 'Activation' && out.config.activation === 'softmax';
  const softmaxActivation = !softmaxLayer && 'activation' in out.config && out.config.activation === 'softmax';
  if (!softmaxLayer && !softmaxActivation) throw new TrainError(`${at(out)}: the model must end in a softmax (an Activation layer or the output layer's activation): the loss is sparse softmax cross-entropy`);
  // Layers that lead to the output; the trainer's one loss trains nothing else.
  const reaches = new Set<string>();
  const visit = (name: string) => {
    if (reaches.has(name)) return;
    reaches.add(name);
    for (const n of byName.get(name)!.inbound) visit(n);
  };
  visit(out.name);
  const stray = spec.layers.find((l) => !reaches.has(l.name) && l.class !== 'InputLayer');
  if (stray) throw new TrainError(`${at(stray)}: its output does not lead to the model's output "${out.name}", so the loss cannot train it; remove it, or train a model whose output it feeds`);

  const inputShape = spec.inputs[0].shape;
  const quantizer = (id: unknown) => getQuantizer(id as never);
  const valueOf = new Map<string, number>(); // layer name -> the value it writes
  const shapes: Shape[] = [inputShape];
  const needsGrad: boolean[] = [false];
  const nodes: StepNode[] = [];
  try {
    for (const l of spec.layers) {
      if (l === out && softmaxLayer) continue; // the loss's softmax
      const reads = l.inbound.length ? l.inbound.map((n) => valueOf.get(n)!) : [0];
      if (l.class === 'InputLayer') {
        valueOf.set(l.name, 0);
        continue;
      }
      const shape = shapes[reads[0]];
      const c = l.config as Record<string, any>;
      const activation = (l === out ? 'linear' : c.activation) as ChannelActivation | 'softmax';
      if (activation === 'softmax') throw new TrainError(`${at(l)}: softmax is only trained as the model's output (with the cross-entropy loss)`);
      const inputGrad = reads.some((v) => needsGrad[v]);
      let step: LayerStep | MergeStep;
      switch (l.class) {
        case 'Flatten':
        case 'Reshape':
          step = new ReshapeStep(l.name, l.outputShape);
          break;
        case 'Dropout':
          if (c.rate !== 0) throw new TrainError(`${at(l)}: Dropout with rate ${c.rate} is not trained yet (its random mask); set rate 0 or remove the layer`);
          step = new ReshapeStep(l.name, shape);
          break;
        case 'Dense':
        case 'QuantDense':
        case 'Conv2D':
        case 'QuantConv2D': {
          const quant = l.class === 'QuantDense' || l.class === 'QuantConv2D';
          const inputQuantizer = quant ? quantizer(c.input_quantizer) : null;
          const kernelQuantizer = quant ? quantizer(c.kernel_quantizer) : null;
          const dense = l.class === 'Dense' || l.class === 'QuantDense';
          if (dense && shape.length !== 1) throw new TrainError(`${at(l)}: takes [${shape.join(', ')}] per sample; this trainer applies Dense to flat inputs (add a Flatten before it)`);
          const padValues = (l.class === 'QuantConv2D' ? c.pad_values : 0) as 0 | 1;
          if (!dense && padValues === 1 && c.padding === 'same' && !(isSignQuantizer(inputQuantizer) && isSignQuantizer(kernelQuantizer))) {
            throw new TrainError(`${at(l)}: pad_values=1 is trained with ste_sign input and kernel quantizers only (the binary kernels); use pad_values=0 or ste_sign`);
          }
          if ([inputQuantizer, kernelQuantizer].some((q) => q?.className === 'DoReFaGradient')) {
            throw new TrainError(`${at(l)}: DoReFaGradient quantizes a gradient: it is a layer of its own after a layer's output (layers.quantizer('dorefa_gradient')), not an input or kernel quantizer`);
          }
          const stochastic = [inputQuantizer, kernelQuantizer].some((q) => q?.className === 'StochasticSteSign');
          if (stochastic && (kernels !== 'binary' || !isSignQuantizer(kernelQuantizer) || !(inputQuantizer === null || isSignQuantizer(inputQuantizer)))) {
            throw new TrainError(`${at(l)}: stochastic_ste_sign trains on the binary kernels only (kernels 'binary'; ste_sign or stochastic_ste_sign on the kernel, and on the input or no input quantizer)`);
          }
          const w = model.weight(`${l.name}/kernel`);
          const op = dense
            ? new DenseOp(gpu, shape[0], c.units, l.name)
            : new ConvOp(gpu, c.filters, c.kernel_size, shape[2], { strides: c.strides, padding: c.padding, dilation: c.dilation_rate, padValues }, l.name);
          const constraint = c.kernel_constraint as { config: { clip_value: number } } | null | undefined;
          step = new LinearStep(
            gpu,
            { name: l.name, op, inShape: shape, inputQuantizer, kernelQuantizer, weightClip: constraint?.config.clip_value, useBias: c.use_bias, activation: activation as ChannelActivation, inputGrad, stream: 2 * nodes.length, xnorInputScale: quant && c.xnor_input_scale === true },
            w.data as Float32Array,
            c.use_bias ? (model.weight(`${l.name}/bias`).data as Float32Array) : null,
          );
          break;
        }
        case 'BatchNormalization':
          step = new BatchNormStep(gpu, { name: l.name, C: shape[shape.length - 1], epsilon: c.epsilon, momentum: c.momentum, center: c.center, scale: c.scale, shift: c.shift_based === true }, (p) => model.weight(`${l.name}/${p}`).data as Float32Array);
          break;
        case 'MaxPooling2D':
        case 'AveragePooling2D':
          step = new PoolStep(l.name, l.class === 'MaxPooling2D' ? 'max' : 'avg', { poolSize: c.pool_size, strides: c.strides, padding: c.padding });
          break;
        case 'GlobalAveragePooling2D':
          step = new PoolStep(l.name, 'avg', { poolSize: [shape[0], shape[1]], strides: [shape[0], shape[1]], padding: 'valid' }, l.outputShape);
          break;
        case 'ZeroPadding2D': {
          const [[top, bottom], [left, right]] = c.padding as [[number, number], [number, number]];
          step = new PadStep(l.name, { top, bottom, left, right });
          break;
        }
        case 'Activation':
          step = new ElementwiseStep(l.name, { activation: activation as ChannelActivation });
          break;
        case 'Quantizer':
          if (quantizer(c.quantizer)?.className === 'StochasticSteSign') throw new TrainError(`${at(l)}: stochastic_ste_sign is trained as a QuantDense/QuantConv2D input or kernel quantizer, not as a layer of its own`);
          if (quantizer(c.quantizer)?.className === 'DoReFaGradient') step = new GradientQuantizerStep(l.name, quantizer(c.quantizer)!.config.k_bit as number, 2 * nodes.length);
          else step = new ElementwiseStep(l.name, { quantizer: quantizer(c.quantizer) });
          break;
        case 'Add':
          step = new AddStep(l.name, reads.length);
          break;
        case 'Concatenate':
          step = new ConcatenateStep(l.name, reads.map((v) => shapes[v].at(-1)!));
          break;
        default:
          throw new TrainError(`${at(l)}: not trained yet`);
      }
      const hasParams = !isMerge(step) && step.params.length > 0;
      nodes.push({ step, reads, writes: shapes.length, backward: hasParams || inputGrad });
      valueOf.set(l.name, shapes.length);
      shapes.push(l.outputShape);
      needsGrad.push(hasParams || inputGrad);
    }
    if (!nodes.some((n) => !isMerge(n.step) && n.step.params.length > 0)) throw new TrainError('Trainer: the model has no layer with weights to train');
  } catch (err) {
    destroySteps({ nodes });
    throw err;
  }
  const logits = valueOf.get(softmaxLayer ? out.inbound[0] : out.name)!;
  const readers = shapes.map(() => 0);
  for (const n of nodes) for (const v of n.reads) readers[v]++;
  readers[logits]++;
  return { nodes, readers, needsGrad, logits, inputShape };
}
