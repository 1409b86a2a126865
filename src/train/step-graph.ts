// The model's graph as training steps (issue 16): one step per layer (layer-step.ts; merges read
// several values), wired by the values they read, and the two walks of a training step over it:
// from the model's inputs to each output's logits, and back from each output loss's gradient.
// Forward in topological order: a value read by several layers is handed out as shared reads
// (tensor-handles.ts), its storage returned to the arena when the last reader is done with it.
// Backward in reverse: every reader of a value comes after it, so when its producer is reached the
// value's gradient is complete: the readers' gradients summed on the GPU (fan-out), one add each.
import type { Gpu } from '../gpu/context.js';
import type { Model } from '../model/model.js';
import type { LayerSpec } from '../model/layer-config.js';
import { add, type ChannelActivation } from '../ops/elementwise.js';
import type { Shape, Tensor } from '../tensor.js';
import type { LayerStep, MergeStep, StepContext, TrainKernels } from './layer-step.js';
import { shareReads } from './tensor-handles.js';
import { TrainError } from './train-error.js';
import { kindOf } from '../layers/index.js';
import type { LossOutput } from './loss-outputs.js';

export { TrainError } from './train-error.js';


export interface StepNode {
  step: LayerStep | MergeStep;
  /** The values it reads, in order (one value may be read twice: Add(x, x)). */
  reads: number[];
  /** The value it writes. */
  writes: number;
  /** Its backward runs: it has parameters, or reads a value whose gradient is needed. Otherwise it runs 'frozen' (keeps nothing). */
  backward: boolean;
}

/** Values: 0 .. I-1 are the model's I inputs (in its order), node i writes value I + i. */
export interface StepGraph {
  nodes: StepNode[];
  /** Per value: how many times it is read (by nodes, and each output's logits once by its loss). */
  readers: number[];
  /** Per value: whether the loss's gradient is wanted (a layer with parameters made it, or one of its inputs). */
  needsGrad: boolean[];
  /** Per model output, in its order: its loss, and the value that loss reads (the logits before a folded activation, else the output). */
  outputs: (LossOutput & { logits: number })[];
  /** A sample's shape of each model input, in the model's order. */
  inputShapes: Shape[];
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
 * Runs every step's forward in topological order from `inputs` (one per model input, lent: never
 * released) and returns each output's logits, in the model's order (owned by the caller).
 * `contextOf` gives a node's context ('frozen' where no backward will run).
 */
export async function forwardGraph(graph: StepGraph, inputs: readonly Tensor[], contextOf: (n: StepNode) => StepContext): Promise<Tensor[]> {
  const pending: Tensor[][] = new Array(graph.readers.length);
  const hand = (v: number, t: Tensor) => {
    if (graph.readers[v] === 0) t.release(); // read by nobody (a model input the graph ignores)
    else pending[v] = shareReads(t, graph.readers[v]);
  };
  inputs.forEach((x, v) => hand(v, x));
  for (const n of graph.nodes) {
    const xs = n.reads.map((v) => pending[v].pop()!);
    const ctx = contextOf(n);
    hand(n.writes, isMerge(n.step) ? await n.step.forward(ctx, xs) : await n.step.forward(ctx, xs[0]));
  }
  const logits = graph.outputs.map((o) => pending[o.logits].pop()!);
  if (pending.some((p) => p?.length)) throw new Error('forwardGraph: a value was left unread (the graph is checked when built)');
  return logits;
}

/**
 * Runs the backward of every node that has one, from each output loss's dL/dlogits (taken, in the
 * model's output order), summing the gradients of values read several times: logits two outputs
 * share, and a trunk several heads read, get the sum of what each sends back.
 */
export async function backwardGraph(graph: StepGraph, dLogits: readonly Tensor[], ctx: StepContext): Promise<void> {
  const grads = new Map<number, Tensor>();
  const accumulate = async (v: number, dx: Tensor, by: string) => {
    const sum = grads.get(v);
    if (!sum) return void grads.set(v, dx);
    // The fan-out: this reader's gradient added to the others' (one f32 add per element).
    grads.set(v, await add(ctx.gpu, sum, dx, { label: `${by}.gradient.sum` }));
    sum.release();
    dx.release();
  };
  for (const [k, o] of graph.outputs.entries()) await accumulate(o.logits, dLogits[k], `output "${o.name}"`);
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
 * The model as a graph of training steps, checked: what this trainer covers. Any number of inputs;
 * `outputs` (lossOutputs: each output's loss; one that folds the output's softmax or sigmoid reads
 * the logits before it). Every layer must lead to an output.
 */
export function buildStepGraph(gpu: Gpu, model: Model, kernels: TrainKernels, outputs: readonly LossOutput[]): StepGraph {
  const spec = model.spec;
  const at = (l: LayerSpec) => `layer "${l.name}" (${l.class})`;
  const byName = new Map(spec.layers.map((l) => [l.name, l]));
  // Layers that lead to an output; the losses train nothing else.
  const reaches = new Set<string>();
  const visit = (name: string) => {
    if (reaches.has(name)) return;
    reaches.add(name);
    for (const n of byName.get(name)!.inbound) visit(n);
  };
  for (const o of outputs) visit(o.name);
  const stray = spec.layers.find((l) => !reaches.has(l.name) && l.class !== 'InputLayer');
  const names = outputs.map((o) => `"${o.name}"`).join(', ');
  if (stray) throw new TrainError(`${at(stray)}: its output leads to none of the model's outputs (${names}), so no loss can train it; remove it, or make it an output`);

  const byOutput = new Map(outputs.map((o) => [o.name, o]));
  const valueOf = new Map<string, number>(); // layer name -> the value it writes
  const inputShapes = spec.inputs.map((i) => i.shape);
  const shapes: Shape[] = [...inputShapes];
  const needsGrad: boolean[] = inputShapes.map(() => false);
  const nodes: StepNode[] = [];
  try {
    for (const l of spec.layers) {
      const output = byOutput.get(l.name);
      if (output?.activationLayer) continue; // the activation the loss folds in (softmax, sigmoid)
      // A layer without inbound layers reads the model input of its name (tfjs-format.ts).
      const reads = l.inbound.length ? l.inbound.map((n) => valueOf.get(n)!) : [spec.inputs.findIndex((i) => i.name === l.name)];
      if (l.class === 'InputLayer') {
        valueOf.set(l.name, reads[0]);
        continue;
      }
      const shape = shapes[reads[0]];
      const c = l.config as Record<string, any>;
      const activation = (output?.folded ? 'linear' : c.activation) as ChannelActivation | 'softmax';
      if (activation === 'softmax') throw new TrainError(`${at(l)}: softmax is only trained as a model output (with the sparse_categorical_crossentropy loss); make this layer an output, or use another activation`);
      const inputGrad = reads.some((v) => needsGrad[v]);
      const train = kindOf(l).train;
      if (!train) throw new TrainError(`${at(l)}: not trained yet`);
      const step = train(l, { gpu, model, kernels, shape, inShapes: reads.map((v) => shapes[v]), activation: activation as ChannelActivation, inputGrad, stream: 2 * nodes.length, at: at(l) });
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
  const wired = outputs.map((o) => ({ ...o, logits: valueOf.get(o.logitsLayer)! }));
  const readers = shapes.map(() => 0);
  for (const n of nodes) for (const v of n.reads) readers[v]++;
  for (const o of wired) readers[o.logits]++;
  return { nodes, readers, needsGrad, outputs: wired, inputShapes };
}
