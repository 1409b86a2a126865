// Zip archives (a Keras 3 `.keras` file), read the same way in Node and in browsers: the central
// directory parsed here (PKWARE's APPNOTE), entries stored or deflated (the platform's
// DecompressionStream('deflate-raw')), each checked against its declared size and CRC-32.
import { ModelFormatError } from '../model/layer-config.js';

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  /** Where the entry's data starts in the archive (after its local header). */
  dataOffset: number;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/**
 * The archive's entries by name, every offset and size checked against the archive's length
 * (nothing is decompressed). `file` names the archive in errors.
 */
export function zipEntries(bytes: Uint8Array, file: string): Map<string, ZipEntry> {
  const fail = (problem: string, fix = 'the file is truncated or damaged: save or download it again'): never => {
    throw new ModelFormatError(`${file}: ${problem}; ${fix}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number) => view.getUint16(o, true);
  const u32 = (o: number) => view.getUint32(o, true);
  // The end-of-central-directory record: the last 22 bytes, or earlier by its comment's length.
  let eocd = -1;
  for (let o = bytes.length - 22; o >= Math.max(0, bytes.length - 22 - 0xffff); o--) {
    if (u32(o) === EOCD && o + 22 + u16(o + 20) === bytes.length) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) fail('no zip end-of-central-directory record');
  const count = u16(eocd + 10);
  const cdSize = u32(eocd + 12);
  const cdOffset = u32(eocd + 16);
  if (u16(eocd + 4) !== 0 || u16(eocd + 6) !== 0 || u16(eocd + 8) !== count) fail('a multi-part (spanned) zip archive', 'save the model as one file');
  if (count === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff) fail('a ZIP64 archive (over 4 GiB or 65,535 entries)', 'larger than any model this reader takes');
  if (cdOffset + cdSize > eocd) fail(`the central directory (${cdSize} bytes at ${cdOffset}) runs past its end record at ${eocd}`);
  const names = new TextDecoder('utf-8', { fatal: false });
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdOffset + cdSize || u32(p) !== CENTRAL) fail(`central directory entry ${i} of ${count} is missing or damaged`);
    const flags = u16(p + 8);
    const method = u16(p + 10);
    const nameLength = u16(p + 28);
    const next = p + 46 + nameLength + u16(p + 30) + u16(p + 32);
    if (next > cdOffset + cdSize) fail(`central directory entry ${i} runs past the directory`);
    const name = names.decode(bytes.subarray(p + 46, p + 46 + nameLength));
    const at = `zip entry "${name}"`;
    if (flags & 1) fail(`${at} is encrypted`, 'save the model without a password');
    if (method !== 0 && method !== 8) fail(`${at} uses compression method ${method}`, 'only stored (0) and deflated (8) entries are read; re-zip with deflate');
    const compressedSize = u32(p + 20);
    const size = u32(p + 24);
    const local = u32(p + 42);
    if (compressedSize === 0xffffffff || size === 0xffffffff || local === 0xffffffff) fail(`${at} has ZIP64 sizes (over 4 GiB)`, 'larger than any model this reader takes');
    if (local + 30 > cdOffset || u32(local) !== LOCAL) fail(`${at}: its local header at ${local} is missing or damaged`);
    const localName = names.decode(bytes.subarray(local + 30, local + 30 + u16(local + 26)));
    if (localName !== name) fail(`${at}: its local header names "${localName}"`);
    const dataOffset = local + 30 + u16(local + 26) + u16(local + 28);
    if (dataOffset + compressedSize > cdOffset) fail(`${at}: ${compressedSize} bytes at ${dataOffset} run into the central directory at ${cdOffset}`);
    if (method === 0 && compressedSize !== size) fail(`${at} is stored but declares ${compressedSize} bytes stored and ${size} unpacked`);
    if (entries.has(name)) fail(`${at} appears twice`);
    entries.set(name, { name, method, compressedSize, size, crc32: u32(p + 16), dataOffset });
    p = next;
  }
  return entries;
}

/** An entry's bytes, refused before anything is allocated if its declared size exceeds `maxBytes`; inflated no further than declared; CRC-32 checked. */
export async function readZipEntry(bytes: Uint8Array, entry: ZipEntry, file: string, maxBytes: number): Promise<Uint8Array> {
  const at = `${file}: zip entry "${entry.name}"`;
  if (entry.size > maxBytes) throw new ModelFormatError(`${at} declares ${entry.size} bytes, more than the limit of ${maxBytes}; raise the limit if the file is trusted`);
  const packed = bytes.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
  const data = entry.method === 0 ? packed.slice() : await inflateRaw(packed, entry.size, at);
  if (crc32(data) !== entry.crc32) throw new ModelFormatError(`${at}: CRC-32 mismatch, the data is damaged; save or download the file again`);
  return data;
}

async function inflateRaw(packed: Uint8Array, size: number, at: string): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let n = 0;
  try {
    const stream = new Blob([packed as BlobPart]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (n + value.length > size) {
        await reader.cancel();
        throw new ModelFormatError(`${at} inflates to more than its declared ${size} bytes`);
      }
      out.set(value, n);
      n += value.length;
    }
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    throw new ModelFormatError(`${at}: its deflate data is damaged (${e instanceof Error ? e.message : String(e)}); save or download the file again`);
  }
  if (n !== size) throw new ModelFormatError(`${at} inflates to ${n} bytes, not its declared ${size}`);
  return out;
}

let CRC_TABLE: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, zip's). */
export function crc32(data: Uint8Array): number {
  const table = (CRC_TABLE ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  }));
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
