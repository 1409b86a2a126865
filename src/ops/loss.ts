// The training losses (shaders/loss.wgsl). Softmax cross-entropy: from logits f32 [M, C] and labels
// u32 [M], the per-row loss, the gradient of the batch's mean loss (Keras' sparse categorical
// crossentropy, reduction sum_over_batch_size) times the output's loss weight, and top-1/top-5
// hits. The element-wise losses on f32 targets (mean squared error, binary cross-entropy from
// logits) the same way, with BCE's binary-accuracy hits. LossMetrics accumulates them on the GPU
// over any number of steps and reads them back once. CPU references beside.
//
// Hits as Keras counts them (src/train/metrics.ts, whose functions the reference uses): top-1 when
// the label is the argmax (first maximum), top-5 by TF's in_top_k (ties at the boundary count as in).
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { rowHits } from '../train/metrics.js';
import { expectTensor } from './check.js';
import { checkWorkgroupSize, expectNotAliased, expectRows, expectSameShape, launchAll, outputTensor, type LaunchStep } from './training-launch.js';

export interface SoftmaxCrossEntropyOptions {
  /** Add this step's rows, hits and loss to these totals, in the same GPU pass. */
  metrics?: LossMetrics;
  /** The output's loss weight (Keras's `loss_weights`): dLogits is scaled by it; the loss and hits are not. Default 1. */
  gradientScale?: number;
  /** Caller-provided outputs: loss f32[M], dLogits f32[M, C], top1 and top5 u32[M]. */
  loss?: Tensor;
  dLogits?: Tensor;
  top1?: Tensor;
  top5?: Tensor;
  label?: string;
  workgroupSize?: number;
}

export interface SoftmaxCrossEntropy {
  /** -log softmax(logits)[label] per row (NaN for a label >= C). */
  loss: Tensor;
  /** gradientScale * (softmax(logits) - onehot(label)) / M: d(gradientScale * mean loss)/d(logits). */
  dLogits: Tensor;
  /** 1 where the label is the argmax (first maximum), else 0. */
  top1: Tensor;
  /** 1 where the label is in the top 5 (in_top_k), else 0. */
  top5: Tensor;
}

const OP = 'softmaxCrossEntropy';

export async function softmaxCrossEntropy(gpu: Gpu, logits: Tensor, labels: Tensor, options: SoftmaxCrossEntropyOptions = {}): Promise<SoftmaxCrossEntropy> {
  const [M, C] = expectTensor(OP, 'logits', logits, 'f32', 2);
  const [Ml] = expectTensor(OP, 'labels', labels, 'u32', 1);
  if (Ml !== M) throw new ShapeError(`${OP}: 'labels' must have one entry per row of 'logits' (${M}), got ${Ml}`);
  const wg = checkWorkgroupSize(gpu, OP, options.workgroupSize);
  const gradientScale = options.gradientScale ?? 1;
  if (!Number.isFinite(gradientScale)) throw new ShapeError(`${OP}: 'gradientScale' must be a finite number, got ${gradientScale}`);
  const outs = { loss: options.loss, dLogits: options.dLogits, top1: options.top1, top5: options.top5 };
  expectNotAliased(OP, outs, { logits, labels });
  const label = options.label ?? `${OP}[${M}x${C}]`;
  const fresh: Tensor[] = [];
  const loss = outputTensor(gpu, OP, 'loss', options.loss, 'f32', [M], label, fresh);
  const dLogits = outputTensor(gpu, OP, 'dLogits', options.dLogits, 'f32', [M, C], label, fresh);
  const top1 = outputTensor(gpu, OP, 'top1', options.top1, 'u32', [M], label, fresh);
  const top5 = outputTensor(gpu, OP, 'top5', options.top5, 'u32', [M], label, fresh);
  if (new Set([loss, dLogits, top1, top5].map((t) => t.buffer)).size !== 4) throw new ShapeError(`${OP}: 'loss', 'dLogits', 'top1' and 'top5' must be different tensors`);
  const params = { rows: M, classes: C, grad_scale: gradientScale };
  const steps: LaunchStep[] = [{
    spec: { shader: 'loss' as const, entryPoint: 'softmax_cross_entropy', constants: { WORKGROUP_SIZE: wg } },
    bindings: { params, logits, labels, loss, d_logits: dLogits, top1, top5 },
    workgroups: Math.ceil(M / wg),
  }];
  if (options.metrics) steps.push(options.metrics.step(M, { loss, top1, top5 }));
  await launchAll(gpu, label, steps, fresh);
  return { loss, dLogits, top1, top5 };
}

/** The element-wise losses, by Keras's names; each kernel variant's LOSS constant. */
export const ELEMENTWISE_LOSSES = { mean_squared_error: 0, binary_crossentropy: 1 } as const;
export type ElementwiseLossName = keyof typeof ELEMENTWISE_LOSSES;

export interface ElementwiseLossOptions extends Pick<SoftmaxCrossEntropyOptions, 'metrics' | 'gradientScale' | 'label' | 'workgroupSize'> {
  /** Caller-provided outputs: loss f32[rows], dX f32 (the shape of x), hits u32[rows]. */
  loss?: Tensor;
  dX?: Tensor;
  hits?: Tensor;
}

export interface ElementwiseLoss {
  /** Per row (all axes of x but the last): the mean over the last axis of the element losses. */
  loss: Tensor;
  /** d(gradientScale * mean loss)/dx, the shape of x. */
  dX: Tensor;
  /** Per row: binary_crossentropy's elements predicted right at 0.5 (x > 0 equals the target); 0 for mean_squared_error. */
  hits: Tensor;
}

const EOP = 'elementwiseLoss';

/**
 * Mean squared error on the values `x`, or binary cross-entropy on the logits `x` before a sigmoid
 * (the stable form), against f32 `targets` of x's shape (any rank; rows are all axes but the last).
 */
export async function elementwiseLoss(gpu: Gpu, kind: ElementwiseLossName, x: Tensor, targets: Tensor, options: ElementwiseLossOptions = {}): Promise<ElementwiseLoss> {
  if (!Object.hasOwn(ELEMENTWISE_LOSSES, kind)) throw new ShapeError(`${EOP}: kind must be one of ${Object.keys(ELEMENTWISE_LOSSES).map((k) => `'${k}'`).join(', ')}, got ${JSON.stringify(kind)}`);
  const { shape, rows, cols } = expectRows(EOP, 'x', x, 'f32');
  expectRows(EOP, 'targets', targets, 'f32');
  expectSameShape(EOP, 'targets', targets, 'x', shape);
  const wg = checkWorkgroupSize(gpu, EOP, options.workgroupSize);
  const gradientScale = options.gradientScale ?? 1;
  if (!Number.isFinite(gradientScale)) throw new ShapeError(`${EOP}: 'gradientScale' must be a finite number, got ${gradientScale}`);
  expectNotAliased(EOP, { loss: options.loss, dX: options.dX, hits: options.hits }, { x, targets });
  const label = options.label ?? `${EOP}.${kind}[${rows}x${cols}]`;
  const fresh: Tensor[] = [];
  const loss = outputTensor(gpu, EOP, 'loss', options.loss, 'f32', [rows], label, fresh);
  const dX = outputTensor(gpu, EOP, 'dX', options.dX, 'f32', shape, label, fresh);
  const hits = outputTensor(gpu, EOP, 'hits', options.hits, 'u32', [rows], label, fresh);
  if (new Set([loss, dX, hits].map((t) => t.buffer)).size !== 3) throw new ShapeError(`${EOP}: 'loss', 'dX' and 'hits' must be different tensors`);
  const steps: LaunchStep[] = [{
    spec: { shader: 'loss' as const, entryPoint: 'elementwise_loss', constants: { WORKGROUP_SIZE: wg, LOSS: ELEMENTWISE_LOSSES[kind] } },
    bindings: { params: { rows, classes: cols, grad_scale: gradientScale }, logits: x, targets, loss, d_logits: dX, hits },
    workgroups: Math.ceil(rows / wg),
  }];
  // The totals' hit columns both count `hits` (bound read-only twice): top-1 is what BCE reports.
  if (options.metrics) steps.push(options.metrics.step(rows, { loss, top1: hits, top5: hits }));
  await launchAll(gpu, label, steps, fresh);
  return { loss, dX, hits };
}

/**
 * CPU reference (f64) of elementwiseLoss on `rows` rows of `cols` values (the formulas in
 * shaders/loss.wgsl): the per-row loss, d(gradientScale * mean loss)/dx, hits. The training
 * reference (src/model/reference-training.ts) uses it.
 */
export function elementwiseLossReference(kind: ElementwiseLossName, x: ArrayLike<number>, targets: ArrayLike<number>, rows: number, cols: number, gradientScale = 1) {
  const loss = new Float64Array(rows);
  const dX = new Float64Array(rows * cols);
  const hits = new Uint32Array(rows);
  const scale = gradientScale / (rows * cols);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let j = r * cols; j < (r + 1) * cols; j++) {
      const [v, t] = [x[j], targets[j]];
      if (kind === 'mean_squared_error') {
        sum += (v - t) ** 2;
        dX[j] = scale * 2 * (v - t);
      } else {
        sum += Math.max(v, 0) - v * t + Math.log1p(Math.exp(-Math.abs(v)));
        dX[j] = scale * (1 / (1 + Math.exp(-v)) - t);
        if (t === (v > 0 ? 1 : 0)) hits[r]++;
      }
    }
    loss[r] = sum / cols;
  }
  return { loss, dX, hits };
}

export interface LossTotals {
  rows: number;
  /** Mean loss over the rows (f32 running sum / rows). */
  loss: number;
  /** Fractions of rows whose label is in the top 1 / top 5. */
  top1: number;
  top5: number;
}

/**
 * Running totals on the GPU (u32[4]: rows, top-1 hits, top-5 hits, f32 loss sum): add each step
 * (`softmaxCrossEntropy(..., { metrics })`, or `add`), read once per N steps, reset.
 */
export class LossMetrics {
  private constructor(readonly gpu: Gpu, readonly totals: Tensor, private readonly workgroupSize: number) {}

  static create(gpu: Gpu, options: { label?: string; workgroupSize?: number } = {}): LossMetrics {
    const wg = checkWorkgroupSize(gpu, 'LossMetrics', options.workgroupSize);
    const m = new LossMetrics(gpu, gpu.tensor([4], 'u32', options.label ?? 'lossMetrics.totals'), wg);
    m.reset();
    return m;
  }

  /** The accumulate dispatch for a step of `rows` rows (used by softmaxCrossEntropy). */
  step(rows: number, r: Pick<SoftmaxCrossEntropy, 'loss' | 'top1' | 'top5'>): LaunchStep {
    return {
      spec: { shader: 'loss' as const, entryPoint: 'accumulate_metrics', constants: { WORKGROUP_SIZE: this.workgroupSize } },
      bindings: { params: { rows, classes: 0, grad_scale: 0 }, row_loss: r.loss, row_top1: r.top1, row_top5: r.top5, totals: this.totals },
      workgroups: 1,
    };
  }

  /** Adds a softmaxCrossEntropy result computed without `metrics`. */
  async add(r: Pick<SoftmaxCrossEntropy, 'loss' | 'top1' | 'top5'>): Promise<void> {
    const [M] = expectTensor('LossMetrics.add', 'loss', r.loss, 'f32', 1);
    for (const k of ['top1', 'top5'] as const) {
      const [n] = expectTensor('LossMetrics.add', k, r[k], 'u32', 1);
      if (n !== M) throw new ShapeError(`LossMetrics.add: '${k}' must have ${M} entries (one per row of 'loss'), got ${n}`);
    }
    await launchAll(this.gpu, 'LossMetrics.add', [this.step(M, r)], []);
  }

  /** Reads the totals back (one read) as means. */
  async read(): Promise<LossTotals> {
    const t = (await this.totals.read()) as Uint32Array;
    const rows = t[0];
    const lossSum = new Float32Array(t.buffer, 12, 1)[0];
    return { rows, loss: rows ? lossSum / rows : NaN, top1: rows ? t[1] / rows : NaN, top5: rows ? t[2] / rows : NaN };
  }

  reset(): void {
    this.gpu.write(this.totals, new Uint32Array(4));
  }

  release(): void {
    this.totals.release();
  }
}

/** CPU reference (f64) of softmaxCrossEntropy: the same outputs, the hits of src/train/metrics.ts. */
export function softmaxCrossEntropyReference(logits: Float32Array, labels: ArrayLike<number>, M: number, C: number, gradientScale = 1) {
  const loss = new Float32Array(M);
  const dLogits = new Float32Array(M * C);
  const top1 = new Uint32Array(M);
  const top5 = new Uint32Array(M);
  for (let r = 0; r < M; r++) {
    const row = logits.subarray(r * C, (r + 1) * C);
    const label = labels[r];
    const valid = label < C;
    const m = Math.max(...row);
    let sum = 0;
    for (let j = 0; j < C; j++) sum += Math.exp(row[j] - m);
    for (let j = 0; j < C; j++) dLogits[r * C + j] = (gradientScale * (Math.exp(row[j] - m) / sum - (valid && j === label ? 1 : 0))) / M;
    loss[r] = valid ? m + Math.log(sum) - row[label] : NaN;
    const hits = rowHits(row, label);
    top1[r] = hits.top1 ? 1 : 0;
    top5[r] = hits.top5 ? 1 : 0;
  }
  return { loss, dLogits, top1, top5 };
}
