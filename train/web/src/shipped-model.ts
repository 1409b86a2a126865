// The model the Predict and Inspect tabs start with: the one shipped with the package (models/<name>/,
// served beside the page under models/), loaded on first load unless a model is already there;
// a message saying what to do when it cannot be loaded.
import { pretrained, shippedPreprocessing } from 'webgpu-bnn';
import type { AppState } from './app-state.js';
import { errorText, showBanner } from './banner.js';
import { byId } from './dom.js';

/**
 * The MLP with BatchNorm before its softmax, trained by `bnn train mnist-mlp-bn` on shifted digits
 * (models/mnist-mlp-bn/README.md is its card): the most accurate shipped model, its probabilities
 * not saturated as mnist-mlp's integer scores leave them, and the shifts help with drawn digits.
 */
export const SHIPPED_MODEL = 'mnist-mlp-bn';

/** Loads the shipped model into `app` (body[data-shipped] = 'loaded' | 'missing' | 'replaced', for tests). */
export async function loadShippedModel(app: AppState, name = SHIPPED_MODEL): Promise<void> {
  try {
    const [model, preprocessing] = await Promise.all([pretrained(name), shippedPreprocessing(name)]);
    // A model trained or loaded while this one was on its way stays.
    if (app.model) {
      document.body.dataset.shipped = 'replaced';
      return;
    }
    app.setModel(model, `shipped with webgpu-bnn, models/${name}: trained by bnn train, see its README.md`, preprocessing);
    document.body.dataset.shipped = 'loaded';
  } catch (err) {
    document.body.dataset.shipped = 'missing';
    // The no-WebGPU message matters more: it stays.
    if (byId('banner').dataset.kind === 'webgpu') return;
    showBanner({
      kind: 'shipped-missing',
      level: 'warn',
      title: `The shipped model "${name}" could not be loaded, so Predict and Inspect start without a model`,
      text: `${errorText(err)}. (npm run web serves the repository's models/ beside the page; npm run web:build copies them into the build.) Meanwhile, train a model on the Train tab or load one (model.json + its .bin files).`,
    });
  }
}
