// Images as pixels: JPEG and PNG decoded to 8-bit RGB (jpeg-js, fast-png: pure JS, the same code
// in Node and in a browser), a photo reduced to a model's input (centre square, area-average
// downscale, optionally gray), and RGB pixels encoded as PNG (charts, test fixtures).
import jpeg from 'jpeg-js';
import { convertIndexedToRgb, decode as decodePngFile, encode as encodePngFile } from 'fast-png';
import { DataFormatError } from './idx.js';

/** 8-bit pixels, row-major, `channels` per pixel (3: RGB, 1: gray). */
export interface Pixels {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

const isPng = (b: Uint8Array) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;

/**
 * The most pixels an image may declare (8192 x 8192), checked from its header before it is
 * decoded: a few hundred bytes of PNG may declare 20000 x 20000 (1.6 GB of RGBA).
 */
export const MAX_IMAGE_PIXELS = 8192 * 8192;

/** A PNG's width and height from its IHDR chunk (the first, at byte 8), or null if it has none. */
function pngSize(b: Uint8Array): { width: number; height: number } | null {
  if (b.length < 24 || String.fromCharCode(b[12], b[13], b[14], b[15]) !== 'IHDR') return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { width: v.getUint32(16), height: v.getUint32(20) };
}
const isJpeg = (b: Uint8Array) => b[0] === 0xff && b[1] === 0xd8;

/** Decodes a JPEG or PNG (told apart by their signatures) to 8-bit RGB; alpha is dropped. `name` is for errors. */
export function decodeImage(file: Uint8Array | ArrayBuffer, name = 'image'): Pixels {
  const bytes = file instanceof Uint8Array ? file : new Uint8Array(file);
  const fail = (problem: string, fix: string): never => {
    throw new DataFormatError(name, problem, fix);
  };
  if (isJpeg(bytes)) {
    let d: { width: number; height: number; data: Uint8Array };
    try {
      d = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6 });
    } catch (e) {
      return fail(`not a readable JPEG (${(e as Error).message})`, 'Re-save it as a baseline or progressive JPEG, or as PNG');
    }
    return { width: d.width, height: d.height, channels: 3, data: dropChannels(d.data, 4, d.width * d.height) };
  }
  if (isPng(bytes)) {
    const size = pngSize(bytes);
    if (!size) fail('a PNG without its IHDR header chunk', 'Re-save it as an 8-bit RGB or gray PNG');
    if (size!.width * size!.height > MAX_IMAGE_PIXELS) fail(`declares ${size!.width}x${size!.height} pixels, more than the ${MAX_IMAGE_PIXELS.toLocaleString('en-US')} allowed (MAX_IMAGE_PIXELS)`, 'Shrink it first (the model sees 32x32 at most)');
    let d;
    try {
      d = decodePngFile(bytes);
    } catch (e) {
      return fail(`not a readable PNG (${(e as Error).message})`, 'Re-save it as an 8-bit RGB or gray PNG');
    }
    const n = d.width * d.height;
    if (d.palette) return { width: d.width, height: d.height, channels: 3, data: dropChannels(convertIndexedToRgb(d) as Uint8Array, d.palette[0]?.length ?? 3, n) };
    if (d.depth !== 8 && d.depth !== 16) fail(`a ${d.depth}-bit PNG`, 'Re-save it as an 8-bit (or 16-bit) RGB or gray PNG');
    const data = d.depth === 16 ? Uint8Array.from(d.data, (v) => v >> 8) : (d.data as Uint8Array);
    const c = d.channels;
    if (c === 1 || c === 2) {
      const rgb = new Uint8Array(n * 3);
      for (let i = 0; i < n; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i * c];
      return { width: d.width, height: d.height, channels: 3, data: rgb };
    }
    return { width: d.width, height: d.height, channels: 3, data: dropChannels(data, c, n) };
  }
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return fail(`neither JPEG nor PNG (it starts with ${head || 'nothing'})`, 'Convert it to .jpg or .png');
}

/** The first 3 of `channels` channels per pixel (RGBA -> RGB). */
function dropChannels(data: ArrayLike<number>, channels: number, pixels: number): Uint8Array {
  if (channels === 3 && data instanceof Uint8Array) return data.subarray(0, pixels * 3);
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = data[i * channels + c];
  return rgb;
}

/** RGB (or gray) pixels as an 8-bit PNG file. */
export function encodePng(p: Pixels): Uint8Array {
  if (p.data.length !== p.width * p.height * p.channels) throw new RangeError(`encodePng: ${p.width}x${p.height}x${p.channels} needs ${p.width * p.height * p.channels} bytes, got ${p.data.length}`);
  return encodePngFile({ width: p.width, height: p.height, data: p.data, channels: p.channels, depth: 8 });
}

/** RGB to gray by ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B, rounded), as PIL's convert('L'). */
export function toGray(p: Pixels): Pixels {
  if (p.channels === 1) return p;
  const n = p.width * p.height;
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.round(0.299 * p.data[3 * i] + 0.587 * p.data[3 * i + 1] + 0.114 * p.data[3 * i + 2]);
  return { ...p, channels: 1, data };
}

/**
 * The centre square of `p` (side min(width, height)) reduced to size x size by area averaging
 * (resizeRegion).
 */
export function centreSquare(p: Pixels, size: number): Pixels {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`centreSquare: size must be a positive integer, got ${size}`);
  const side = Math.min(p.width, p.height);
  return resizeRegion(p, { x: Math.floor((p.width - side) / 2), y: Math.floor((p.height - side) / 2), width: side, height: side }, size, size);
}

/**
 * The region of `p` reduced (or enlarged) to width x height by area averaging: each output pixel
 * is the mean of the source area it covers, partly covered pixels weighted by the covered fraction
 * (a box filter; no aliasing when shrinking a photo 20x). Rounded to u8.
 */
export function resizeRegion(p: Pixels, region: { x: number; y: number; width: number; height: number }, width: number, height: number): Pixels {
  const C = p.channels;
  const { x: x0, y: y0 } = region;
  const xs = coverage(region.width, width);
  const ys = coverage(region.height, height);
  // Rows first: [region rows][width cols][C] in f64, then columns of that.
  const tmp = new Float64Array(region.height * width * C);
  for (let y = 0; y < region.height; y++) {
    const row = (y0 + y) * p.width;
    for (let o = 0; o < width; o++) {
      for (const [sx, w] of xs[o]) for (let c = 0; c < C; c++) tmp[(y * width + o) * C + c] += w * p.data[(row + x0 + sx) * C + c];
    }
  }
  const out = new Uint8Array(width * height * C);
  for (let o = 0; o < height; o++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (const [sy, w] of ys[o]) s += w * tmp[(sy * width + x) * C + c];
        out[(o * width + x) * C + c] = Math.min(255, Math.max(0, Math.round(s)));
      }
    }
  }
  return { width, height, channels: C, data: out };
}

/** For each of `n` output cells over `len` source pixels: the source pixels it covers and their weights (summing to 1). */
function coverage(len: number, n: number): [number, number][][] {
  const scale = len / n;
  return Array.from({ length: n }, (_, o) => {
    const a = o * scale;
    const b = (o + 1) * scale;
    const cells: [number, number][] = [];
    for (let s = Math.floor(a); s < Math.min(len, Math.ceil(b)); s++) {
      const w = Math.min(b, s + 1) - Math.max(a, s);
      if (w > 1e-12) cells.push([s, w / scale]);
    }
    return cells;
  });
}
