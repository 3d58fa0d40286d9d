"""The ``annsnn`` console script (also ``python -m annsnn``).

Exit codes: 0 success, 1 the model or data cannot be used (annsnn error),
2 bad command line (argparse).
"""
import argparse
import json
import os
import sys
import time
from importlib import resources

from annsnn.errors import AnnsnnError

BUNDLED_MODELS = ("mlp", "cnn")


def bundled_model_path(name):
    return resources.files("annsnn") / "data" / "models" / f"{name}.keras"


def bundled_settings(name):
    """Conversion settings shipped beside a bundled model (chosen on training data only)."""
    path = resources.files("annsnn") / "data" / "models" / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _scale_factor(text):
    if text is None:
        return None
    values = [float(v) for v in text.split(",")]
    return values[0] if len(values) == 1 else values


def run_demo(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    from annsnn import ANNtoSNNConverter
    from annsnn.datasets import load_mnist
    from annsnn.conversion.keras_model import load_keras

    model_path = bundled_model_path(args.model)
    if not model_path.is_file():
        raise AnnsnnError(f"bundled model '{args.model}' not found at {model_path}")
    settings = bundled_settings(args.model).get(args.encoding, {})
    scale = _scale_factor(args.scale_factor) if args.scale_factor else settings.get("scale_factor")
    (_, _), (x_test, y_test) = load_mnist(verbose=True)
    n = min(args.samples or len(x_test), len(x_test))
    x = (x_test[:n].astype(np.float32) / 255.0)
    y = y_test[:n].astype(np.int64)
    keras_model = load_keras(str(model_path))
    x_ann = x.reshape((n,) + tuple(keras_model.inputs[0].shape[1:]))
    ann_accuracy = float((keras_model.predict(x_ann, verbose=0, batch_size=512).argmax(1) == y).mean())

    conv = ANNtoSNNConverter(input_encoding=args.encoding, read_out=args.read_out, seed=args.seed,
                             k=args.k)
    print(f"annsnn: converting bundled '{args.model}' ({model_path.name}), encoding {args.encoding}, "
          f"read-out {args.read_out}, scale factors {scale if scale is not None else 'default (depth + 1)'}")
    conv.load_keras_model(keras_model, scale_factor=scale, show_info=True, batch_size=args.batch_size)
    started = time.perf_counter()
    predictions = np.array(conv.predict(x_ann, duration_per_sample=args.duration, progress=not args.quiet))
    seconds = time.perf_counter() - started
    snn_accuracy = float((predictions == y).mean())

    from sklearn.metrics import classification_report
    print()
    print(classification_report(y, predictions, digits=4, zero_division=0))
    build = conv.network.build_info
    print(f"samples            {n}")
    print(f"steps per sample   {args.duration}")
    print(f"ANN accuracy       {100 * ann_accuracy:.2f} %")
    print(f"SNN accuracy       {100 * snn_accuracy:.2f} %  ({100 * (snn_accuracy - ann_accuracy):+.2f} points)")
    print(f"throughput         {n / seconds:,.0f} samples/s ({seconds:.2f} s, {conv.network.num_threads} threads)")
    print(f"build              {build.seconds:.2f} s ({'compiled' if build.compiled else 'cache hit'})")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="annsnn", description="Convert Keras networks to spiking networks "
                                     "and simulate them with generated C++.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="convert and evaluate a bundled MNIST model, offline")
    demo.add_argument("--model", choices=BUNDLED_MODELS, default="mlp")
    demo.add_argument("--encoding", choices=("IB", "CPN", "poisson", "PSO"), default="IB")
    demo.add_argument("--read-out", dest="read_out", default="spike_count",
                      choices=("spike_count", "time_to_first_spike", "time_to_k_spikes", "membrane_potential"))
    demo.add_argument("--k", type=int, default=None, help="k for the time_to_k_spikes read-out")
    demo.add_argument("--duration", type=int, default=200, help="steps per sample (default 200)")
    demo.add_argument("--samples", type=int, default=None, help="test samples to use (default all 10,000)")
    demo.add_argument("--batch-size", dest="batch_size", type=int, default=None)
    demo.add_argument("--scale-factor", dest="scale_factor", default=None,
                      help="normalisation scale: one number or a comma-separated list per layer")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(handler=run_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "duration", 1) is not None and getattr(args, "duration", 1) < 1:
        parser.error("--duration must be a positive number of steps")
    try:
        return args.handler(args)
    except AnnsnnError as exc:
        print(f"annsnn: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
