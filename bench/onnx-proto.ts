// The few ONNX protobuf messages a benchmark model needs (ModelProto, GraphProto, NodeProto,
// TensorProto, ValueInfoProto, AttributeProto), written by hand: field numbers from onnx/onnx.proto3.
// A writer this small keeps the bench self-contained (no Python, no protobuf dependency).

/** A node's attribute: an int, a float, a list of ints, or a string (the kinds the benchmark's ops take). */
export type OnnxAttr = number | number[] | string | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, OnnxAttr>;
}

/** An initializer: f32 data, or int64 (shapes, pads, axes). */
export interface OnnxInitializer {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

/** A graph input or output: f32, its dims numbers or a symbolic name ('N' for the batch). */
export interface OnnxValueInfo {
  name: string;
  dims: (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxInitializer[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

/** The opset the translations target (ReduceMean's axes are still an attribute there). */
export const ONNX_OPSET = 17;
const IR_VERSION = 8; // the IR that goes with opset 17
const FLOAT = 1;
const INT64 = 7;

/** Protobuf's wire format: varints, and length-delimited fields (strings, bytes, messages). */
class Writer {
  private parts: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.size += b.length;
  }

  private varint(v: bigint): void {
    let u = BigInt.asUintN(64, v); // negative int64s are ten bytes of two's complement, as protobuf writes them
    const out: number[] = [];
    do {
      const low = Number(u & 0x7fn);
      u >>= 7n;
      out.push(u ? low | 0x80 : low);
    } while (u);
    this.push(Uint8Array.from(out));
  }

  private key(field: number, wire: 0 | 2 | 5): void {
    this.varint(BigInt((field << 3) | wire));
  }

  int(field: number, v: number | bigint): this {
    this.key(field, 0);
    this.varint(BigInt(v));
    return this;
  }

  float(field: number, v: number): this {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2);
    this.varint(BigInt(b.length));
    this.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, m: Writer): this {
    return this.bytes(field, m.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

function tensor(t: OnnxInitializer): Writer {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.data instanceof Float32Array ? FLOAT : INT64).string(8, t.name);
  // raw_data is little-endian, as typed arrays are on every platform Node and browsers run on.
  return w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

// AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, INTS 7).
function attribute(name: string, v: OnnxAttr): Writer {
  const w = new Writer().string(1, name);
  if (typeof v === 'number') return w.int(3, v).int(20, 2);
  if (typeof v === 'string') return w.string(4, v).int(20, 3);
  if (Array.isArray(v)) {
    for (const i of v) w.int(8, i);
    return w.int(20, 7);
  }
  return w.float(2, v.float).int(20, 1);
}

// NodeProto: input 1, output 2, name 3, op_type 4, attribute 5.
function node(n: OnnxNode, i: number): Writer {
  const w = new Writer();
  n.inputs.forEach((x) => w.string(1, x));
  n.outputs.forEach((y) => w.string(2, y));
  w.string(3, `${n.op}_${i}`).string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, attribute(k, v));
  return w;
}

// ValueInfoProto { name 1, type 2 } > TypeProto { tensor_type 1 } > { elem_type 1, shape 2 } > dim 1 > { dim_value 1 | dim_param 2 }.
function valueInfo(v: OnnxValueInfo): Writer {
  const shape = new Writer();
  for (const d of v.dims) shape.message(1, typeof d === 'number' ? new Writer().int(1, d) : new Writer().string(2, d));
  const tensorType = new Writer().int(1, FLOAT).message(2, shape);
  return new Writer().string(1, v.name).message(2, new Writer().message(1, tensorType));
}

/** The serialized ModelProto (what InferenceSession.create takes as bytes, or a .onnx file holds). */
export function encodeOnnxModel(g: OnnxGraph, producer = 'webgpu-bnn bench'): Uint8Array {
  const graph = new Writer();
  g.nodes.forEach((n, i) => graph.message(1, node(n, i)));
  graph.string(2, g.name);
  for (const t of g.initializers) graph.message(5, tensor(t));
  for (const v of g.inputs) graph.message(11, valueInfo(v));
  for (const v of g.outputs) graph.message(12, valueInfo(v));
  // ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8 ({ domain 1, version 2 }).
  return new Writer()
    .int(1, IR_VERSION)
    .string(2, producer)
    .message(7, graph)
    .message(8, new Writer().string(1, '').int(2, ONNX_OPSET))
    .finish();
}
