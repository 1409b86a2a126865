// The error of a model the GPU trainer cannot train (yet): it names the layer and what is missing.

/** The model cannot be trained here (yet): names the layer and what is missing. */
export class TrainError extends Error {
  override name = 'TrainError';
}
