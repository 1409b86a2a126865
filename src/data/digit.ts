// A picture of a handwritten digit (a drawing, a photo of paper) made into an MNIST input the way
// MNIST's own digits were made: light ink on a dark background, the ink's bounding box scaled so
// its longer side is 20 pixels (aspect kept, area averaging), placed in 28x28 with its centre of
// mass in the middle. Shared by `bnn predict --image` and the web app's Predict tab.
import { resizeRegion, toGray, type Pixels } from './images.js';

export interface DigitOptions {
  /** Side of the output (MNIST: 28). */
  size?: number;
  /** Longer side of the ink's box in the output (MNIST: 20). */
  box?: number;
}

/** What prepareDigit did, for a caller to say so. */
export interface PreparedDigit {
  pixels: Pixels;
  /** The background was light (dark ink on paper) and was inverted. */
  inverted: boolean;
  /** No ink was found: the output is all background (black). */
  empty: boolean;
}

/**
 * The background is the median of the border pixels; a light one (> 127) is inverted. Ink is then
 * what rises above the background, stretched to 0..255 (gray paper becomes black); its bounding
 * box holds the pixels above a tenth of the brightest.
 */
export function prepareDigit(image: Pixels, options: DigitOptions = {}): PreparedDigit {
  const size = options.size ?? 28;
  const box = options.box ?? Math.round((size * 20) / 28);
  const gray = image.channels === 1 ? image : toGray(image);
  const { width: W, height: H } = gray;
  const border: number[] = [];
  for (let x = 0; x < W; x++) border.push(gray.data[x], gray.data[(H - 1) * W + x]);
  for (let y = 0; y < H; y++) border.push(gray.data[y * W], gray.data[y * W + W - 1]);
  border.sort((a, b) => a - b);
  const background = border[border.length >> 1];
  const inverted = background > 127;
  const ink = new Uint8Array(W * H);
  let top = 0;
  for (let i = 0; i < W * H; i++) {
    const v = inverted ? 255 - gray.data[i] : gray.data[i];
    const b = inverted ? 255 - background : background;
    ink[i] = Math.max(0, v - b);
    top = Math.max(top, ink[i]);
  }
  const out: Pixels = { width: size, height: size, channels: 1, data: new Uint8Array(size * size) };
  if (top === 0) return { pixels: out, inverted, empty: true };
  for (let i = 0; i < ink.length; i++) ink[i] = Math.round((ink[i] * 255) / top);
  let [x0, y0, x1, y1] = [W, H, -1, -1];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (ink[y * W + x] > 25) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const scale = box / Math.max(bw, bh);
  const w = Math.max(1, Math.round(bw * scale));
  const h = Math.max(1, Math.round(bh * scale));
  const small = resizeRegion({ width: W, height: H, channels: 1, data: ink }, { x: x0, y: y0, width: bw, height: bh }, w, h);
  // Centre of mass of the scaled ink, moved to the middle of the output (whole pixels, kept inside).
  let [m, mx, my] = [0, 0, 0];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = small.data[y * w + x];
      [m, mx, my] = [m + v, mx + v * (x + 0.5), my + v * (y + 0.5)];
    }
  }
  const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  const dx = clamp(Math.round(size / 2 - mx / m), size - w);
  const dy = clamp(Math.round(size / 2 - my / m), size - h);
  for (let y = 0; y < h; y++) out.data.set(small.data.subarray(y * w, (y + 1) * w), (dy + y) * size + dx);
  return { pixels: out, inverted, empty: false };
}
