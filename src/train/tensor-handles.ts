// Who releases a tensor's storage in a training step, made explicit in the types: a lent tensor
// (the step's input: never released into the step's arena), a view (another shape of the same
// storage: releasing it releases what it views), and shared reads (a value read by several layers:
// the storage goes back to the arena when the last reader releases its handle).
import { Tensor, type Shape } from '../tensor.js';

/** A tensor whose storage belongs to someone else: releasing it is a no-op. */
export class LentTensor extends Tensor {
  constructor(t: Tensor) {
    super(t.gpu, t.buffer, t.shape, t.dtype, t.label);
  }

  override release(): void {}
}

/**
 * The same storage under another shape of as many values. Releasing the view releases the tensor
 * it views (once): a view of a lent or shared tensor keeps that tensor's rule.
 */
export class TensorView extends Tensor {
  private dropped = false;

  constructor(
    readonly base: Tensor,
    shape: Shape,
  ) {
    super(base.gpu, base.buffer, shape, base.dtype, base.label);
  }

  override get isReleased(): boolean {
    return this.dropped || this.base.isReleased;
  }

  override release(): void {
    if (this.dropped) return;
    this.dropped = true;
    this.base.release();
  }
}

/** One reader's handle on a value several layers read; see shareReads. */
class SharedRead extends Tensor {
  private dropped = false;

  constructor(private readonly owner: { base: Tensor; left: number }) {
    super(owner.base.gpu, owner.base.buffer, owner.base.shape, owner.base.dtype, owner.base.label);
  }

  override get isReleased(): boolean {
    return this.dropped || this.owner.base.isReleased;
  }

  override release(): void {
    if (this.dropped) return;
    this.dropped = true;
    if (--this.owner.left === 0) this.owner.base.release();
  }
}

/**
 * `readers` handles on t, one per reader, each released by its reader (at once, or when its
 * backward is done with it); t itself is released with the last. One reader: t itself.
 */
export function shareReads(t: Tensor, readers: number): Tensor[] {
  if (!Number.isInteger(readers) || readers < 1) throw new RangeError(`shareReads: ${readers} readers`);
  if (readers === 1) return [t];
  const owner = { base: t, left: readers };
  return Array.from({ length: readers }, () => new SharedRead(owner));
}
