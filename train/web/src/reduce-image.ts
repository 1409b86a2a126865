// Images to model inputs: a drawing centred the way MNIST's digits are (the ink's bounding box
// scaled into 20x20, its centre of mass moved to the middle of 28x28), or a photo cropped to its
// central square; both reduced to the model's H x W (gray for 1 channel, RGB for 3) and mapped to
// [-1, 1] as the seed's preprocessing does (pixel / 127.5 - 1).
import { preprocessMnist } from 'webgpu-bnn';

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

function finish(ctx: CanvasRenderingContext2D, shape: [number, number, number]): Reduced {
  const [H, W, C] = shape;
  if (C !== 1 && C !== 3) throw new RangeError(`a model input of ${C} channels: only 1 (gray) or 3 (RGB) images are made here`);
  const pixels = channels(ctx.getImageData(0, 0, W, H), C);
  return { pixels, input: preprocessMnist(pixels), shape };
}

/** A photo (any size) cropped to its central square and reduced to `shape`. */
export function reducePhoto(image: CanvasImageSource & { width: number; height: number }, shape: [number, number, number]): Reduced {
  const [H, W] = shape;
  const side = Math.min(image.width, image.height);
  const [, ctx] = canvas(W, H);
  scaleInto(image, (image.width - side) / 2, (image.height - side) / 2, side, side, ctx, 0, 0, W, H);
  return finish(ctx, shape);
}

/**
 * A drawing (white ink on black) as MNIST's digits were made: the ink's bounding box scaled so its
 * longer side is 20/28 of the input, then shifted so its centre of mass sits in the middle. Null
 * when nothing is drawn. For 3-channel inputs the same image in gray on all three.
 */
export function reduceDrawing(pad: HTMLCanvasElement, shape: [number, number, number]): Reduced | null {
  const [H, W] = shape;
  const src = pad.getContext('2d', { willReadFrequently: true })!.getImageData(0, 0, pad.width, pad.height);
  let [x0, y0, x1, y1] = [pad.width, pad.height, -1, -1];
  for (let y = 0; y < pad.height; y++) {
    for (let x = 0; x < pad.width; x++) {
      if (src.data[4 * (y * pad.width + x)] > 32) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const scale = (Math.min(H, W) * (20 / 28)) / Math.max(bw, bh);
  const [boxed, bctx] = canvas(W, H);
  bctx.fillStyle = '#000';
  bctx.fillRect(0, 0, W, H);
  scaleInto(pad, x0, y0, bw, bh, bctx, (W - bw * scale) / 2, (H - bh * scale) / 2, bw * scale, bh * scale);
  // Centre of mass to the middle.
  const img = bctx.getImageData(0, 0, W, H).data;
  let [m, mx, my] = [0, 0, 0];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const v = img[4 * (y * W + x)];
      m += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  const [, ctx] = canvas(W, H);
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, W, H);
  ctx.drawImage(boxed, Math.round(W / 2 - mx / m), Math.round(H / 2 - my / m));
  return finish(ctx, shape);
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
