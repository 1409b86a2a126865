// The merge layers in training: Add (forward: a chain of two-input adds; backward: dy to every
// input) and Concatenate on the last axis (forward: a chain of concatenations; backward: dy's
// columns sliced back to each input). Neither keeps anything for its backward.
import { add, concatLast, sliceLast } from '../ops/elementwise.js';
import type { Tensor } from '../tensor.js';
import type { MergeStep, StepContext } from './layer-step.js';
import { shareReads } from './tensor-handles.js';

/** Folds xs left to right with a two-input op, releasing every input and partial result. */
async function chain(xs: Tensor[], op: (a: Tensor, b: Tensor, k: number) => Promise<Tensor>): Promise<Tensor> {
  let y = xs[0];
  for (let k = 1; k < xs.length; k++) {
    const next = await op(y, xs[k], k);
    y.release();
    xs[k].release();
    y = next;
  }
  return y;
}

/** Keras's Add: y = x1 + x2 + ..., left to right as the inference plan adds. */
export class AddStep implements MergeStep {
  readonly merge = true;

  constructor(
    readonly name: string,
    private readonly inputs: number,
  ) {}

  async forward(ctx: StepContext, xs: Tensor[]): Promise<Tensor> {
    return chain(xs, (a, b, k) => add(ctx.gpu, a, b, { label: `${this.name}.forward.${k}` }));
  }

  /** dL/dx_k = dy for every k: one storage, shared by the inputs' gradients (shareReads). */
  async backward(_ctx: StepContext, dy: Tensor): Promise<Tensor[]> {
    return shareReads(dy, this.inputs);
  }
}

/** Keras's Concatenate on the last axis (the only axis the model reader takes). */
export class ConcatenateStep implements MergeStep {
  readonly merge = true;

  constructor(
    readonly name: string,
    /** Each input's last axis, in order. */
    private readonly cols: number[],
  ) {}

  async forward(ctx: StepContext, xs: Tensor[]): Promise<Tensor> {
    return chain(xs, (a, b, k) => concatLast(ctx.gpu, a, b, { label: `${this.name}.forward.${k}` }));
  }

  async backward(ctx: StepContext, dy: Tensor): Promise<Tensor[]> {
    const dxs: Tensor[] = [];
    let offset = 0;
    for (const [k, cols] of this.cols.entries()) {
      dxs.push(await sliceLast(ctx.gpu, dy, { offset, cols }, { label: `${this.name}.backward.${k}` }));
      offset += cols;
    }
    dy.release();
    return dxs;
  }
}
