// Images to model inputs. For a 1-channel (MNIST) model, a drawing or a photo becomes a digit as
// MNIST's were made, by the library's prepareDigit (the same as `bnn predict --image`: inverted on
// a light background, the ink boxed into 20x20, centred by mass in 28x28); for a 3-channel model a
// photo is cropped to its central square and reduced. Inputs are made from the pixels by the
// model's preprocessing (`preprocess`: pixel/127.5 - 1 for the MNIST models).
import { prepareDigit, type Pixels } from 'webgpu-bnn';

/** Pixels to model inputs (AppState.preprocess). */
export type Preprocess = (pixels: Uint8Array, out: Float32Array) => Float32Array;

export interface Reduced {
  /** u8 pixels, H x W x C. */
  pixels: Uint8Array;
  /** The model input, H x W x C floats. */
  input: Float32Array;
  shape: [number, number, number];
}

function canvas(w: number, h: number): [HTMLCanvasElement, CanvasRenderingContext2D] {
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  const ctx = c.getContext('2d', { willReadFrequently: true })!;
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  return [c, ctx];
}

/** Downscales in halving steps (a one-step 10x reduction with bilinear filtering would skip pixels). */
function scaleInto(src: CanvasImageSource, sx: number, sy: number, sw: number, sh: number, ctx: CanvasRenderingContext2D, dx: number, dy: number, dw: number, dh: number): void {
  let source = src;
  let [x, y, w, h] = [sx, sy, sw, sh];
  while (w > 2 * dw && h > 2 * dh) {
    const [c, cx] = canvas(Math.ceil(w / 2), Math.ceil(h / 2));
    cx.drawImage(source, x, y, w, h, 0, 0, c.width, c.height);
    [source, x, y, w, h] = [c, 0, 0, c.width, c.height];
  }
  ctx.drawImage(source, x, y, w, h, dx, dy, dw, dh);
}

/** Packs RGBA image data into H x W x C u8 pixels (C = 1: luminance). */
function channels(data: ImageData, C: number): Uint8Array {
  const n = data.width * data.height;
  const out = new Uint8Array(n * C);
  const d = data.data;
  for (let i = 0; i < n; i++) {
    if (C === 1) out[i] = Math.round(0.299 * d[4 * i] + 0.587 * d[4 * i + 1] + 0.114 * d[4 * i + 2]);
    else for (let c = 0; c < 3; c++) out[i * 3 + c] = d[4 * i + c];
  }
  return out;
}

function finish(ctx: CanvasRenderingContext2D, shape: [number, number, number], preprocess: Preprocess): Reduced {
  const [H, W, C] = shape;
  if (C !== 1 && C !== 3) throw new RangeError(`a model input of ${C} channels: only 1 (gray) or 3 (RGB) images are made here`);
  const pixels = channels(ctx.getImageData(0, 0, W, H), C);
  return { pixels, input: preprocess(pixels, new Float32Array(pixels.length)), shape };
}

/** A photo (any size) cropped to its central square and reduced to `shape`. */
export function reducePhoto(image: CanvasImageSource & { width: number; height: number }, shape: [number, number, number], preprocess: Preprocess): Reduced {
  const [H, W, C] = shape;
  if (C === 1) return digitInput(grayOf(image, image.width, image.height), shape, preprocess) ?? finish(canvas(W, H)[1], shape, preprocess);
  const side = Math.min(image.width, image.height);
  const [, ctx] = canvas(W, H);
  scaleInto(image, (image.width - side) / 2, (image.height - side) / 2, side, side, ctx, 0, 0, W, H);
  return finish(ctx, shape, preprocess);
}

/** The luminance of a canvas source, at its own size. */
function grayOf(src: CanvasImageSource, width: number, height: number): Pixels {
  const [, ctx] = canvas(width, height);
  ctx.drawImage(src, 0, 0);
  return { width, height, channels: 1, data: channels(ctx.getImageData(0, 0, width, height), 1) };
}

/** prepareDigit at the model's size; null when there is no ink. 3-channel inputs get the gray digit on all three. */
function digitInput(gray: Pixels, shape: [number, number, number], preprocess: Preprocess): Reduced | null {
  const [H, W, C] = shape;
  const d = prepareDigit(gray, { size: Math.min(H, W) });
  if (d.empty) return null;
  const pixels = C === 1 ? d.pixels.data : Uint8Array.from({ length: H * W * C }, (_, i) => d.pixels.data[Math.floor(i / C)]);
  return { pixels, input: preprocess(pixels, new Float32Array(pixels.length)), shape };
}

/** A drawing (white ink on black) as MNIST's digits were made (prepareDigit). Null when nothing is drawn. */
export function reduceDrawing(pad: HTMLCanvasElement, shape: [number, number, number], preprocess: Preprocess): Reduced | null {
  return digitInput(grayOf(pad, pad.width, pad.height), shape, preprocess);
}

/** The reduced pixels drawn at their size (CSS scales the canvas up, pixelated). */
export function previewCanvas(r: Reduced, target: HTMLCanvasElement): void {
  const [H, W, C] = r.shape;
  target.width = W;
  target.height = H;
  const ctx = target.getContext('2d')!;
  const img = ctx.createImageData(W, H);
  for (let i = 0; i < H * W; i++) {
    for (let c = 0; c < 3; c++) img.data[4 * i + c] = r.pixels[C === 1 ? i : i * 3 + c];
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}
