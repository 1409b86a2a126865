// Image folders (Node): `<root>/<class>/*.jpg|png`, the layout of Keras' image_dataset_from_directory
// and torchvision's ImageFolder. Classes are the subdirectories sorted by name, labelled 0, 1, ...
// in that order, as those libraries do; samples come class by class, files sorted by name.
import { DataFormatError } from './idx.js';
import { decodeImage } from './images.js';

export interface ImageFolderOptions {
  /** Every image must be height x width (the model's input); another size is refused. */
  height: number;
  width: number;
  /** When given, the subdirectories must be exactly these classes (their sorted order is the labels'). */
  classes?: readonly string[];
  onProgress?: (done: number, total: number) => void;
}

/** Labelled RGB images, NHWC u8 [count, height, width, 3], and the class names in label order. */
export interface ImageFolderData {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  classes: string[];
  files: string[];
}

const IMAGE = /\.(jpe?g|png)$/i;

/** Reads every .jpg/.jpeg/.png under `<dir>/<class>/` (other files are ignored). */
export async function readImageFolder(dir: string, options: ImageFolderOptions): Promise<ImageFolderData> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const { height, width } = options;
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch((e: Error) => {
    throw new DataFormatError(dir, `cannot be read (${e.message})`, 'Give the directory that holds one subdirectory per class (<root>/<split>/<class>/*.jpg)');
  });
  // Code-point order, as Python's sorted() in Keras and torchvision.
  const classes = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (classes.length === 0) throw new DataFormatError(dir, 'has no class subdirectories', 'Put each class\'s images in a subdirectory named after the class: <root>/<split>/<class>/*.jpg');
  if (classes.length > 256) throw new DataFormatError(dir, `has ${classes.length} class subdirectories, more than a u8 label holds`, 'Use at most 256 classes');
  if (options.classes) {
    const want = [...options.classes].sort();
    const missing = want.filter((c) => !classes.includes(c));
    const extra = classes.filter((c) => !want.includes(c));
    if (missing.length || extra.length) {
      throw new DataFormatError(dir, `class subdirectories ${missing.length ? `missing: ${missing.join(', ')}` : ''}${missing.length && extra.length ? '; ' : ''}${extra.length ? `unexpected: ${extra.join(', ')}` : ''}`, `The classes are ${want.join(', ')}: one subdirectory each`);
    }
    const order = [...options.classes];
    if (order.some((c, i) => c !== classes[i])) throw new RangeError(`readImageFolder: the expected classes [${order.join(', ')}] are not in sorted order, so their labels would differ from the folder's`);
  }
  const files: string[] = [];
  const labels: number[] = [];
  for (const [label, name] of classes.entries()) {
    const names = (await fs.readdir(path.join(dir, name))).filter((f) => IMAGE.test(f)).sort();
    for (const f of names) {
      files.push(path.join(dir, name, f));
      labels.push(label);
    }
  }
  if (files.length === 0) throw new DataFormatError(dir, 'holds no .jpg or .png image in its class subdirectories', 'Put the images in <root>/<split>/<class>/');
  const per = height * width * 3;
  const images = new Uint8Array(files.length * per);
  for (const [i, file] of files.entries()) {
    const p = decodeImage(await fs.readFile(file), file);
    if (p.width !== width || p.height !== height) {
      throw new DataFormatError(file, `is ${p.width}x${p.height}, the model takes ${width}x${height}`, `Resize the images to ${width}x${height} first (for one photo, bnn predict --image crops and reduces it)`);
    }
    images.set(p.data, i * per);
    if (i % 1000 === 999) options.onProgress?.(i + 1, files.length);
  }
  return { images, labels: Uint8Array.from(labels), count: files.length, classes, files };
}
