// Reductions along one axis (shaders/reduce.wgsl): columnSums, which is the bias gradient
// (biasGradient: dL/db = the sum of dy over every axis but the last), and columnReduce, which also
// computes the statistics of Larq's kernel quantizers (sum |x| per channel, max |tanh x| over the
// tensor; see train-elementwise.ts). Beside them, f64 CPU references.
//
// Accuracy: each pass sums `chunk` rows in order in f32, and the passes repeat on the partials, so
// a column's sum is within (chunk + ceil(rows / chunk) + ...) * 2^-24 * sum |x| of the exact one
// (reduceErrorTerms gives the count). Max is exact (of the mapped values).
import type { Gpu } from '../gpu/context.js';
import { ShapeError } from '../gpu/errors.js';
import { elementCount, type Shape, type Tensor } from '../tensor.js';
import { checkWorkgroupSize, expectNotAliased, expectRows, launchAll, outputTensor, type LaunchStep } from './training-launch.js';

/** Which axis the outputs run along: 'last' (Keras' channels, and columns of [rows, C]), 'first', or 'all' (one output). */
export type ReduceAxis = 'last' | 'first' | 'all';

export interface ColumnReduceOptions {
  /** What each element becomes first: itself (default), |x|, |tanh x|. */
  map?: 'identity' | 'abs' | 'abs_tanh';
  /** 'sum' (default) or 'max' (only of |x| or |tanh x|: the start value is 0). */
  op?: 'sum' | 'max';
  /** Outputs per 'last'-axis channel (default), per 'first'-axis index, or one for 'all'. */
  axis?: ReduceAxis;
  /** The result becomes (factor * r) / divisor (f32 ops; for a mean, divisor = the count). */
  factor?: number;
  divisor?: number;
  /** Rows an invocation reduces per pass (default 256). */
  chunk?: number;
  out?: Tensor;
  label?: string;
  workgroupSize?: number;
}

const MAP_CODE = { identity: 0, abs: 1, abs_tanh: 2 } as const;

/** The reduced view of `shape` for `axis`: outputs (cols), reduced length (rows) and strides. */
export function reduceView(shape: Shape, axis: ReduceAxis): { rows: number; cols: number; rowStride: number; colStride: number } {
  const n = elementCount(shape);
  if (axis === 'all') return { rows: n, cols: 1, rowStride: 1, colStride: 0 };
  if (axis === 'last') {
    const cols = shape[shape.length - 1];
    return { rows: n / cols, cols, rowStride: cols, colStride: 1 };
  }
  const cols = shape[0];
  return { rows: n / cols, cols, rowStride: 1, colStride: n / cols };
}

/** Rows of partials each pass leaves: ceil(rows / chunk), repeated down to 1. */
export function reducePasses(rows: number, chunk: number): number[] {
  const out: number[] = [];
  let r = rows;
  do {
    r = Math.ceil(r / chunk);
    out.push(r);
  } while (r > 1);
  return out;
}

/** The n of the sums' error bound n * 2^-24 * sum |x|: the longest chain of additions, plus 1. */
export function reduceErrorTerms(rows: number, chunk = 256): number {
  let terms = Math.min(rows, chunk);
  let r = rows;
  for (const left of reducePasses(rows, chunk)) {
    if (r > chunk) terms += Math.min(left, chunk);
    r = left;
  }
  return terms + 1;
}

/** Reduces f32 x along every axis but `axis` (see ColumnReduceOptions) to f32 [cols]. */
export async function columnReduce(gpu: Gpu, x: Tensor, options: ColumnReduceOptions = {}): Promise<Tensor> {
  const op = 'columnReduce';
  const { shape } = expectRows(op, 'x', x, 'f32');
  const axis = options.axis ?? 'last';
  if (axis !== 'last' && axis !== 'first' && axis !== 'all') throw new ShapeError(`${op}: axis must be 'last', 'first' or 'all', got ${JSON.stringify(axis)}`);
  const map = options.map ?? 'identity';
  if (!Object.hasOwn(MAP_CODE, map)) throw new ShapeError(`${op}: map must be 'identity', 'abs' or 'abs_tanh', got ${JSON.stringify(map)}`);
  const reduceOp = options.op ?? 'sum';
  if (reduceOp !== 'sum' && reduceOp !== 'max') throw new ShapeError(`${op}: op must be 'sum' or 'max', got ${JSON.stringify(reduceOp)}`);
  if (reduceOp === 'max' && map === 'identity') throw new ShapeError(`${op}: op 'max' reduces non-negative values only (its start value is 0): use map 'abs' or 'abs_tanh'`);
  const chunk = options.chunk ?? 256;
  if (!Number.isInteger(chunk) || chunk < 2) throw new ShapeError(`${op}: chunk must be an integer >= 2, got ${chunk}`);
  const factor = options.factor ?? 1;
  const divisor = options.divisor ?? 1;
  const wg = checkWorkgroupSize(gpu, op, options.workgroupSize);
  expectNotAliased(op, { out: options.out }, { x });
  const view = reduceView(shape, axis);
  const label = options.label ?? `${op}[${shape.join('x')} ${reduceOp} ${map} ${axis}]`;
  const fresh: Tensor[] = [];
  const out = outputTensor(gpu, op, 'out', options.out, 'f32', [view.cols], label, fresh);
  const temps: Tensor[] = [];
  const steps: LaunchStep[] = [];
  let input = x;
  let { rows, rowStride, colStride } = view;
  let first = true;
  for (const left of reducePasses(view.rows, chunk)) {
    const last = left === 1;
    const y = last ? out : gpu.tensor([left, view.cols], 'f32', `${label}.partial${steps.length}`);
    if (!last) temps.push(y);
    const params = { rows, cols: view.cols, row_stride: rowStride, col_stride: colStride, chunk, finish: last ? 1 : 0, factor, divisor };
    const constants = { WORKGROUP_SIZE: wg, MAP: first ? MAP_CODE[map] : 0, OP: reduceOp === 'max' ? 1 : 0 };
    steps.push({ spec: { shader: 'reduce', entryPoint: 'reduce_columns', constants }, bindings: { params, x: input, y }, workgroups: Math.ceil((left * view.cols) / wg) });
    input = y;
    rows = left;
    rowStride = view.cols;
    colStride = 1;
    first = false;
  }
  try {
    await launchAll(gpu, label, steps, fresh);
  } finally {
    for (const t of temps) t.release();
  }
  return out;
}

export interface ColumnSumsOptions {
  /** Rows an invocation sums per pass (default 256). */
  chunk?: number;
  out?: Tensor;
  label?: string;
  workgroupSize?: number;
}

/** Sums of f32 x [..., C] over every axis but the last: f32 [C]. */
export async function columnSums(gpu: Gpu, x: Tensor, options: ColumnSumsOptions = {}): Promise<Tensor> {
  return columnReduce(gpu, x, { ...options, label: options.label ?? `columnSums[${x?.shape?.join('x')}]` });
}

/** A layer's bias gradient: dL/db[c] = the sum of dy [..., C] over every axis but the last (columnSums). */
export async function biasGradient(gpu: Gpu, dy: Tensor, options: ColumnSumsOptions = {}): Promise<Tensor> {
  return columnReduce(gpu, dy, { ...options, label: options.label ?? `biasGradient[${dy?.shape?.join('x')}]` });
}

/** CPU reference of columnSums / biasGradient: f64 sums over every axis but the last of x (`shape`). */
export function columnSumsReference(x: ArrayLike<number>, shape: Shape): Float64Array {
  const { rows, cols } = reduceView(shape, 'last');
  if (x.length !== rows * cols) throw new RangeError(`columnSumsReference: ${x.length} values for shape [${shape}]`);
  const sums = new Float64Array(cols);
  for (let i = 0; i < x.length; i++) sums[i % cols] += x[i];
  return sums;
}
