// Classification metrics as Keras reports them, on the CPU: top-1 is Keras' `accuracy`
// (`sparse_categorical_accuracy`: the argmax, first maximum, equals the label), top-k is
// `sparse_top_k_categorical_accuracy` (TF's `in_top_k`). shaders/loss.wgsl computes the same hits
// on the GPU while training; evaluation, the CLI and the web app use these functions.

/**
 * The index of the first maximum of `row` (numpy's and TF's argmax on ties), NaN entries passed
 * over; -1 when every entry is NaN (a row that predicts nothing).
 */
export function argmax(row: ArrayLike<number>): number {
  let best = -1;
  for (let c = 0; c < row.length; c++) {
    const v = row[c];
    if (!Number.isNaN(v) && (best < 0 || v > row[best])) best = c;
  }
  return best;
}

/** The smallest normal float32, 2^-126: below it a float32 is subnormal. */
const MIN_NORMAL_F32 = 1.1754943508222875e-38;

/**
 * A score as TensorFlow's CPU kernels leave it: they run with subnormals flushed to zero, so
 * Keras's softmax gives 0, not exp(-90) = 8e-40, and those zeros tie. WebGPU may flush or keep
 * subnormals (SwiftShader flushes; WGSL allows either), so the metrics flush them here and count
 * the same on any device.
 */
const flushed = (v: number) => (Math.abs(v) < MIN_NORMAL_F32 ? 0 : v);

/**
 * TF's `in_top_k(row, label, k)`: the label is in the top k when fewer than k entries are strictly
 * greater than its own, so classes tied at the k-th place all count as in (a row of ten equal
 * scores is a top-5 hit for every label). Scores are compared with subnormals flushed to zero, as
 * Keras's evaluation on TensorFlow computes them (`flushed`). A label outside the row, or whose
 * score is NaN, is not in.
 */
export function inTopK(row: ArrayLike<number>, label: number, k: number): boolean {
  if (!(label >= 0 && label < row.length) || Number.isNaN(row[label])) return false;
  const x = flushed(row[label]);
  let greater = 0;
  for (let c = 0; c < row.length; c++) if (flushed(row[c]) > x) greater++;
  return greater < k;
}

export interface RowHits {
  /** argmax(row): the confusion matrix's column. */
  predicted: number;
  /** predicted === label, so top-1 and the confusion matrix's diagonal agree by construction. */
  top1: boolean;
  /** inTopK(row, label, 5). */
  top5: boolean;
}

/** One row's prediction and hits (scores: logits or probabilities, either order-preserving). */
export function rowHits(row: ArrayLike<number>, label: number): RowHits {
  const predicted = argmax(row);
  return { predicted, top1: predicted === label, top5: inTopK(row, label, 5) };
}
