"""The ``annsnn`` console script (also ``python -m annsnn``): demo, convert, info.

Exit codes: 0 success (``info``: the model converts), 1 the model or data cannot be used
(an annsnn error, printed as one line), 2 bad command line.
"""
import argparse
import contextlib
import sys
import time
from importlib import resources
from pathlib import Path

from annsnn.conversion.ttfs import DEFAULT_WINDOWS, TTFS_SIMULATIONS
from annsnn.errors import AnnsnnError

BUNDLED_MODELS = ("mlp", "cnn")


def bundled_model_path(name):
    return resources.files("annsnn") / "data" / "models" / f"{name}.keras"


#: Steps per sample when --duration is not given: the recommended pipeline needs few.
DEFAULT_DURATION = {"annsnn": 32, "reference": 200}
#: Options a preset sets that the command line can override.
PRESET_OPTIONS = ("input_encoding", "hidden_neuron", "read_out", "normalization")


def _converter_options(args):
    """The preset plus the options given on the command line (the others keep the preset's value)."""
    chosen = {name: getattr(args, name) for name in PRESET_OPTIONS if getattr(args, name, None) is not None}
    if args.no_bias_calibration and args.coding == "rate":  # TTFS has no bias calibration to skip
        chosen["calibrate_bias"] = False
    if getattr(args, "nir", None) and args.coding == "rate":  # NIR's nodes cannot state ANNarchy's trace
        chosen["conv_trace"] = False
    return dict(chosen, preset=args.preset, coding=args.coding, ttfs_window=args.ttfs_window,
                ttfs_simulation=args.ttfs_simulation)


def _scaling_chosen(calibration):
    """What the reference's scale search chose, in words; None where it did not run."""
    if calibration.get("scale_duration") is None:
        return None
    gain, scale = calibration.get("raw_weight_gain"), calibration.get("model_scale")
    text = f"the Keras weights x {gain:.3g}" if scale is None else f"model-based scale {scale:.3g}"
    if "conv_trace" in calibration:
        text += ", convolutions fed " + ("ANNarchy's spike trace" if calibration["conv_trace"] else "spikes")
    return f"{text} (at {calibration['scale_duration']} steps)"


def _needs_calibration(conv):
    """'ttfs', True (rate settings that calibrate) or False: what _calibration_samples needs to say."""
    return "ttfs" if conv.coding == "ttfs" else conv.calibrate_bias or conv.normalization in ("data", "robust")


def _steps(conv, requested):
    """The steps conv simulates for --duration; a TTFS run says when it simulates fewer than asked."""
    steps = conv.steps_for(requested)
    if requested is not None and steps < requested and conv.ttfs_simulation == "event":
        print(f"annsnn: --coding ttfs simulates its windows event by event, in {steps} step; --duration "
              f"{requested} does not apply")
    elif requested is not None and steps < requested:
        print(f"annsnn: --coding ttfs decides after {steps} steps; simulating {steps}, not {requested}")
    return steps


def _duration(args):
    """--duration, else the preset's default; None lets coding='ttfs' simulate exactly its windows."""
    return args.duration or (None if args.coding == "ttfs" else DEFAULT_DURATION[args.preset])


def _calibration_duration(conv, duration, calibration):
    """Calibrate at the run's own duration (rate coding): a bias corrected at 32 steps over-drives a run of
    128, and the model scale search likewise picks the scale that agrees best at the length it tried."""
    return duration if calibration is not None and conv.coding == "rate" else None


def _describe(conv):
    o = conv.options
    scales = " (one scale per channel)" if conv.channel_wise else ""
    if conv.coding == "ttfs":
        return (f"time-to-first-spike coding, {conv.ttfs_window} steps per layer window ({conv.ttfs_simulation} "
                f"simulation), {o['read_out']} read-out, {o['normalization']} normalisation{scales}")
    return (f"{o['input_encoding']} input, {o['hidden_neuron']}, {o['read_out']} read-out, "
            f"{o['normalization']} normalisation{scales}")


def _calibration_samples(source, data, input_shape, count, needed=False):
    """Up to ``count`` training samples for calibration, never test samples: 'mnist' is the bundled
    training split; a .npz gives its x_train (or x_calibration) array. None when count is 0."""
    import numpy as np
    from annsnn.datasets import load_mnist
    from annsnn.errors import DataError
    if not count:
        if needed == "ttfs":
            raise DataError("--coding ttfs takes each layer's window from training samples: use --calibration N "
                            "(N > 0); it cannot run without")
        if needed:
            raise DataError("these settings calibrate on training samples (bias calibration or data/robust "
                            "normalisation): use --calibration N, or --preset reference to run without")
        return None
    source = source or ("mnist" if data == "mnist" else data)
    if source == "mnist":
        (x, _), _ = load_mnist(verbose=False)
    else:
        try:
            archive = np.load(source)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read calibration data {source}: {exc}") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"calibration data {source} is not an .npz archive with an x_train or x_calibration "
                            "array")
        with archive:
            key = next((k for k in ("x_calibration", "x_train") if k in archive.files), None)
            if key is None:
                raise DataError(f"{source} has no x_train or x_calibration array to calibrate on; pass "
                                "--calibration-data TRAIN.npz (training samples, never test samples)"
                                + ("" if needed == "ttfs" else " or --calibration 0"))
            x = archive[key]
    # training sets often come sorted by class (the bundled MNIST subset is): a seeded shuffle keeps
    # every class in the first N
    x = np.asarray(x)[np.random.default_rng(0).permutation(len(x))[:count]]
    x = x / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    size = int(np.prod(input_shape))
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != size:
        raise DataError(f"calibration data {source}: samples of shape {x.shape[1:]} do not fit the model input "
                        f"{input_shape} ({size} values)")
    return x.reshape((len(x),) + tuple(input_shape)).astype(np.float32)


def _scale_factor(text):
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise AnnsnnError(f"--scale-factor must be a number or a comma-separated list, got '{text}'") from None
    return values[0] if len(values) == 1 else values


def run_demo(args):
    import numpy as np
    from annsnn.conversion.converter import ANNtoSNNConverter
    from annsnn.conversion.source_model import open_model

    model_path = bundled_model_path(args.model)
    if not model_path.is_file():
        raise AnnsnnError(f"bundled model '{args.model}' not found at {model_path}")
    source = open_model(str(model_path))
    shape = source.input_shape
    x, y = _load_data("mnist", shape, args.samples)
    conv = ANNtoSNNConverter(**_converter_options(args), seed=args.seed, k=args.k)
    calibration = _calibration_samples("mnist", "mnist", shape, args.calibration,
                                       _needs_calibration(conv))
    n = len(x)
    ann_accuracy = _ann_accuracy(source, x, y)

    duration = _duration(args)
    print(f"annsnn: converting bundled '{args.model}' ({model_path.name}), preset '{args.preset}': "
          f"{_describe(conv)}; calibration on {0 if calibration is None else len(calibration):,} training images")
    conv.load_model(source, scale_factor=_scale_factor(args.scale_factor), show_info=True,
                    batch_size=args.batch_size, calibration_data=calibration,
                    calibration_duration=_calibration_duration(conv, duration, calibration))
    duration = _steps(conv, duration)
    started = time.perf_counter()
    predictions = np.array(conv.predict(x, duration_per_sample=duration, progress=not args.quiet))
    seconds = time.perf_counter() - started
    snn_accuracy = float((predictions == y).mean())

    from sklearn.metrics import classification_report
    print()
    print(classification_report(y, predictions, digits=4, zero_division=0))
    build = conv.network.build_info
    print(f"samples            {n}")
    print(f"steps per sample   {duration}")
    print(f"ANN accuracy       {100 * ann_accuracy:.2f} %")
    print(f"SNN accuracy       {100 * snn_accuracy:.2f} %  ({100 * (snn_accuracy - ann_accuracy):+.2f} points)")
    print(f"throughput         {n / seconds:,.0f} samples/s ({seconds:.2f} s, {conv.network.num_threads} threads)")
    print(f"build              {build.seconds:.2f} s ({'compiled' if build.compiled else 'cache hit'})")
    if conv.read_out.stop_condition:
        decided = conv.stop_steps[conv.stop_steps >= 0]
        if len(decided):
            print(f"decision latency   p50 {np.percentile(decided, 50):.0f} / p99 {np.percentile(decided, 99):.0f} "
                  f"steps ({100 * len(decided) / n:.1f} % decided)")
    return 0


def _load_data(spec, input_shape, samples):
    """'mnist' (bundled test set) or a .npz with x/y (or x_test/y_test); uint8 images are scaled to [0, 1]."""
    import numpy as np
    from annsnn.datasets import load_mnist, load_npz_dataset
    from annsnn.errors import DataError
    if spec == "mnist":
        (_, _), (x, y) = load_mnist(verbose=True)
    else:
        x, y = load_npz_dataset(spec)
    if samples:
        x, y = x[:samples], y[:samples]
    x = np.asarray(x)
    x = x / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    size = int(np.prod(input_shape))
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != size:
        raise DataError(f"data {spec}: samples of shape {x.shape[1:]} do not fit the model input {input_shape} "
                        f"({size} values)")
    y = np.asarray(y)
    y = y.argmax(axis=1) if y.ndim == 2 else y
    return x.reshape((len(x),) + tuple(input_shape)).astype(np.float32), y.astype(np.int64)


@contextlib.contextmanager
def _dask_client(scheduler, workers):
    """A Client for --scheduler ADDRESS or a LocalCluster of --workers N processes; None without either."""
    if not scheduler and not workers:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise AnnsnnError("--scheduler and --workers need Dask: pip install 'annsnn[distributed]'") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise AnnsnnError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client


def _ann_accuracy(source, x, y):
    return float((source.predict_classes(x) == y).mean())


def run_convert(args):
    from annsnn.conversion.converter import ANNtoSNNConverter
    from annsnn.conversion.source_model import open_model
    from annsnn.report import build_report, format_table, layer_table

    model = open_model(args.model)  # Keras or ONNX, by the file name
    shape = model.input_shape
    conv = ANNtoSNNConverter(**_converter_options(args), k=args.k, seed=args.seed)
    if args.nir and conv.hidden_model.spec.payload:  # before the conversion, not after it
        raise AnnsnnError(f"--nir: hidden neuron '{conv.hidden_model.name}' sends spikes with a payload, which "
                          "NIR's nodes cannot state; add --hidden-neuron IF_subtract")
    x, y = _load_data(args.data, shape, args.samples)
    calibration = _calibration_samples(args.calibration_data, args.data, shape, args.calibration,
                                       _needs_calibration(conv))
    duration = _duration(args)
    print(f"annsnn: preset '{args.preset}': {_describe(conv)}; calibration on "
          f"{0 if calibration is None else len(calibration):,} training samples")
    conv.load_model(model, scale_factor=_scale_factor(args.scale_factor), show_info=False,
                    batch_size=args.batch_size, calibration_data=calibration,
                    calibration_duration=_calibration_duration(conv, duration, calibration))
    print(format_table(layer_table(conv)))
    chosen = _scaling_chosen(conv.calibration)
    if chosen:
        print(f"annsnn: calibration chose {chosen}")
    if args.nir:
        from annsnn.nir_export import export_nir
        export_nir(conv, args.nir)
        print(f"NIR graph          {args.nir}")
    duration = _steps(conv, duration)
    ann = _ann_accuracy(model, x, y)
    settings = dict(model=str(args.model), data=args.data, preset=args.preset,
                    encoding=conv.options.get("input_encoding", conv.input_model.name),
                    hidden_neuron=conv.options.get("hidden_neuron", conv.hidden_model.name),
                    read_out=conv.options["read_out"], k=args.k, coding=conv.coding,
                    ttfs_window=conv.ttfs_window if conv.coding == "ttfs" else None,
                    ttfs_simulation=conv.ttfs_simulation if conv.coding == "ttfs" else None,
                    normalization=conv.options["normalization"],
                    initial_potential=conv.initial_potential, calibrate_bias=conv.calibrate_bias,
                    channel_wise=conv.channel_wise, calibrate_potential=conv.calibrate_potential,
                    propagation=conv.propagation, conv_trace=conv.conv_trace,  # as built (after any choice)
                    calibration_samples=0 if calibration is None else len(calibration),
                    calibration=conv.calibration, duration=duration,
                    scale_factor=_scale_factor(args.scale_factor), seed=args.seed,
                    cluster=args.scheduler or (f"LocalCluster of {args.workers} workers" if args.workers else None))
    with _dask_client(args.scheduler, args.workers) as client:
        report = build_report(conv, x, y, duration, args.out, ann, settings, progress=not args.quiet,
                              plots=not args.no_plots, client=client)
    print(f"ANN accuracy       {100 * ann:.2f} %")
    print(f"SNN accuracy       {100 * report['snn_accuracy']:.2f} %  "
          f"({100 * (report['snn_accuracy'] - ann):+.2f} points, {duration} steps)")
    print(f"throughput         {report['samples_per_s']:,.0f} samples/s")
    if "latency_steps" in report:
        lat = report["latency_steps"]
        print(f"decision latency   p50 {lat['p50']} / p90 {lat['p90']} / p99 {lat['p99']} steps "
              f"({100 * lat['decided_fraction']:.1f} % decided)")
    print(f"report             {Path(args.out) / 'report.json'}")
    return 0


def run_info(args):
    from annsnn.conversion.source_model import format_of, open_model
    from annsnn.errors import ConversionError
    if format_of(args.model) == "onnx":
        from annsnn.conversion.onnx_model import load_onnx, unsupported_nodes
        missing = unsupported_nodes(load_onnx(args.model))
        if missing:
            print(f"{args.model}: does not convert: {len(missing)} node(s) of unsupported operations:")
            for name, op in missing:
                print(f"  {name:30s} {op}")
            return 1
    try:
        plans = open_model(args.model).plans
    except ConversionError as exc:
        print(f"{args.model}: does not convert: {exc}")
        return 1
    from annsnn.conversion.ttfs import assign_windows
    windows = len(set(assign_windows(plans).values()))
    print(f"{args.model}: converts ({len(plans) - 1} layers; --coding ttfs: {windows} windows, decided after "
          f"{windows - 1} to {windows} windows: one event-driven step, or with --ttfs-simulation clock "
          f"{(windows - 1) * DEFAULT_WINDOWS['clock']} to {windows * DEFAULT_WINDOWS['clock']} steps at its default "
          f"{DEFAULT_WINDOWS['clock']} steps per window)")
    for plan in plans:
        extra = f", folds {', '.join(plan.folded)}" if plan.folded else ""
        extra += ", bias" if plan.bias is not None else ""
        print(f"  {plan.name:20s} {plan.keras_class:24s} {str(plan.shape):16s} {plan.activation}{extra}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Errors as one line (no usage dump), exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _count(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of samples, got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more samples, got {value}")
    return value


def _conversion_arguments(parser):
    """Options shared by convert and demo: a preset, the options that override it, calibration."""
    parser.add_argument("--preset", choices=("annsnn", "reference"), default="annsnn",
                        help="'annsnn': the recommended low-latency pipeline (default); 'reference': ANNarchy's "
                             "converter (CPN, IaF, spike count, model-based normalisation)")
    parser.add_argument("--encoding", dest="input_encoding", choices=("IB", "CPN", "poisson", "PSO", "constant"),
                        default=None, help="input encoding (default: the preset's)")
    parser.add_argument("--hidden-neuron", dest="hidden_neuron", default=None,
                        choices=("IaF", "IF_subtract", "IF_multispike", "IF_signed"))
    parser.add_argument("--read-out", dest="read_out", default=None,
                        choices=("spike_count", "time_to_first_spike", "time_to_k_spikes", "membrane_potential"))
    parser.add_argument("--k", type=_positive, default=None, help="k for the time_to_k_spikes read-out")
    parser.add_argument("--normalization", choices=("model", "data", "robust"), default=None)
    parser.add_argument("--scale-factor", dest="scale_factor", default=None,
                        help="model-based normalisation scale: one number or a comma-separated list per layer "
                             "(default: chosen on the calibration data)")
    parser.add_argument("--calibration", type=_count, default=1000, metavar="N",
                        help="calibrate on N training samples (default 1000; 0: none)")
    parser.add_argument("--no-bias-calibration", dest="no_bias_calibration", action="store_true",
                        help="skip the preset's bias calibration (needed with --normalization model)")
    parser.add_argument("--duration", type=_positive, default=None,
                        help="steps per sample (default 32 with the annsnn preset, 200 with reference; with "
                             "--coding ttfs, the steps its windows take); rate coding calibrates at it too")
    parser.add_argument("--coding", choices=("rate", "ttfs"), default="rate",
                        help="'rate' (default) or 'ttfs': time-to-first-spike, at most one spike per neuron")
    parser.add_argument("--ttfs-window", dest="ttfs_window", type=_positive, default=None, metavar="L",
                        help="with --coding ttfs: steps per layer window (default "
                             f"{DEFAULT_WINDOWS['event']} with event simulation, {DEFAULT_WINDOWS['clock']} with clock): "
                             "values resolve to 1/L of each layer's calibration maximum")
    parser.add_argument("--ttfs-simulation", dest="ttfs_simulation", choices=TTFS_SIMULATIONS, default=None,
                        help="with --coding ttfs: 'event' (default) updates each layer once and its spikes carry "
                             "their time; 'clock' walks every step of every window. Same spikes")


def build_parser():
    parser = _Parser(prog="annsnn", description="Convert Keras networks to spiking networks "
                     "and simulate them with generated C++.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    convert = sub.add_parser("convert", help="convert a .keras or .onnx model, evaluate it and write a report with plots")
    convert.add_argument("model", help="path to a .keras (or .h5) or .onnx file")
    convert.add_argument("--data", default="mnist", help="'mnist' (bundled test set) or a .npz with x and y")
    _conversion_arguments(convert)
    convert.add_argument("--calibration-data", dest="calibration_data", default=None, metavar="SOURCE",
                         help="training samples to calibrate on: 'mnist' (bundled training split) or a .npz with "
                              "x_train or x_calibration (default: 'mnist' with --data mnist, else the --data "
                              "file's training array); never test samples")
    convert.add_argument("--batch-size", dest="batch_size", type=_positive, default=None)
    convert.add_argument("--samples", type=_positive, default=None, help="use the first N samples")
    convert.add_argument("--out", default="annsnn-report", help="report directory (default ./annsnn-report)")
    convert.add_argument("--seed", type=int, default=1)
    convert.add_argument("--no-plots", dest="no_plots", action="store_true")
    convert.add_argument("--nir", metavar="PATH", help="also write the converted network as a NIR graph (nir.write)")
    convert.add_argument("--quiet", action="store_true", help="no progress bar")
    cluster = convert.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", default=None, metavar="ADDRESS",
                         help="simulate on the Dask cluster behind this scheduler (e.g. tcp://10.0.0.5:8786)")
    cluster.add_argument("--workers", type=_positive, default=None, metavar="N",
                         help="simulate on a local Dask cluster of N worker processes")
    convert.set_defaults(handler=run_convert)
    info = sub.add_parser("info", help="say whether a .keras or .onnx model converts, and if not what blocks it")
    info.add_argument("model", help="path to a .keras (or .h5) or .onnx file")
    info.set_defaults(handler=run_info)
    demo = sub.add_parser("demo", help="convert and evaluate a bundled MNIST model, offline")
    demo.add_argument("--model", choices=BUNDLED_MODELS, default="mlp")
    _conversion_arguments(demo)
    demo.add_argument("--samples", type=_positive, default=None, help="test samples to use (default all 10,000)")
    demo.add_argument("--batch-size", dest="batch_size", type=_positive, default=None)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(handler=run_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except AnnsnnError as exc:
        print(f"annsnn: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
