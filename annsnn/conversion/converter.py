"""ANNtoSNNConverter: API-compatible with ANNarchy's, built on annsnn's own Network."""
import logging
import time
import warnings
from dataclasses import replace

import numpy as np

from annsnn import models
from annsnn.errors import ConversionError, InputError
from annsnn.convolution import MAX_RULES
from annsnn.network import PROPAGATIONS
from annsnn.neuron import Neuron
from annsnn.progress import progress_bar

from .keras_graph import fused_into_add
from .source_model import format_of, keras_activations, open_model
from .calibration import ann_decisions, calibrate_biases, choose_model_scale, encoding_gain, traceable
from .pool_folding import fold_mean_pooling
from .normalization import DATA_NORMALIZATIONS, data_based_factors, format_factor, model_based_factors, weight_factor
from .presets import CHOOSE_TRACE, DEFAULT, PRESET_FIELDS, preset_options
from .outcome import Outcome
from .readout import decide, make_readout
from .recipe import NetworkRecipe
from .rate_builder import RateSettings, build_rate_network
from .ttfs import (DEFAULT_WINDOWS, RATE_ONLY, build_ttfs_network, check_simulation, check_window,
                   make_ttfs_readout, ttfs_options)

log = logging.getLogger("annsnn.conversion")

ENCODINGS = {"CPN": models.Poisson, "poisson": models.Poisson, "IB": models.IB, "PSO": models.PSO,
             "constant": models.Constant}
# Analog input is the pixel intensity itself; spiking encodings get intensity * max_f.
UNSCALED_ENCODINGS = ("constant",)
DEFAULT_BATCH = 256
DEFAULT_DURATION = 1000  # steps per sample when predict/evaluate get none (rate coding; the reference's)
HIDDEN = {"IaF": models.IaF, "IF_subtract": models.IF_subtract, "IF_multispike": models.IF_multispike,
          "IF_signed": models.IF_signed}
NORMALIZATIONS = ("model", "data", "robust", None)
CODINGS = ("rate", "ttfs")


def _neuron_option(value, table, what):
    if isinstance(value, Neuron):
        return value
    if isinstance(value, str) and value in table:
        return table[value]
    raise ConversionError(f"unknown {what} {value!r}; choose one of {', '.join(table)} or pass an annsnn.Neuron")


class ANNtoSNNConverter:
    """Convert a trained Keras network into a spiking one and classify with it.

    >>> conv = ANNtoSNNConverter(input_encoding="IB", hidden_neuron="IaF", read_out="spike_count")
    >>> net = conv.load_keras_model("mlp.keras")
    >>> labels = conv.predict(X_test, duration_per_sample=200)

    Samples are simulated B at a time through the simulator's batch dimension.
    """

    def __init__(self, input_encoding=DEFAULT, hidden_neuron=DEFAULT, read_out=DEFAULT, max_f=100.0, k=None,
                 normalization=DEFAULT, percentile=DEFAULT, seed=None, num_threads=None, initial_potential=DEFAULT,
                 calibrate_bias=DEFAULT, propagation=DEFAULT, max_pool=DEFAULT, channel_wise=DEFAULT,
                 calibrate_potential=DEFAULT, conv_trace=DEFAULT, fold_mean_pool=DEFAULT, preset="reference", coding="rate",
                 ttfs_window=None, ttfs_simulation=None, **unknown):
        """Options left out take the preset's value (``preset="reference"``: the reference converter's
        defaults, CPN / IaF / spike_count / model; see annsnn.conversion.presets).

        ``coding="ttfs"`` maps the network onto neurons that fire at most once, ``ttfs_window`` steps
        per layer, simulated event by event (``ttfs_simulation="event"``, the default) or step by step
        ("clock"), with the same spikes (see annsnn.conversion.ttfs); the rate-coding options do not
        apply to it."""
        if unknown:
            raise ConversionError(f"unknown option(s): {', '.join(unknown)}")
        given = dict(input_encoding=input_encoding, hidden_neuron=hidden_neuron, read_out=read_out,
                     normalization=normalization, percentile=percentile, initial_potential=initial_potential,
                     calibrate_bias=calibrate_bias, propagation=propagation, max_pool=max_pool,
                     channel_wise=channel_wise, calibrate_potential=calibrate_potential, conv_trace=conv_trace,
                     fold_mean_pool=fold_mean_pool)
        if coding not in CODINGS:
            raise ConversionError(f"unknown coding {coding!r}; choose one of {', '.join(map(repr, CODINGS))}")
        if coding == "rate" and (ttfs_window is not None or ttfs_simulation is not None):
            raise ConversionError(f"{'ttfs_window' if ttfs_window is not None else 'ttfs_simulation'} applies to "
                                  "coding='ttfs' only")
        if coding == "ttfs" and k is not None:
            raise ConversionError("k (time_to_k_spikes) applies to rate coding only, not to coding='ttfs'")
        self.ttfs_simulation = check_simulation("event" if ttfs_simulation is None else ttfs_simulation)
        self.coding = coding
        self.ttfs_window = check_window(DEFAULT_WINDOWS[self.ttfs_simulation] if ttfs_window is None else ttfs_window)
        chosen = dict(preset_options(preset), **{name: v for name, v in given.items() if v is not DEFAULT})
        if coding == "ttfs":
            chosen.update(ttfs_options(given))
        (input_encoding, hidden_neuron, read_out, normalization, percentile, initial_potential,
         calibrate_bias, propagation, max_pool, channel_wise, calibrate_potential, conv_trace, fold_mean_pool) = (
            chosen[name] for name in PRESET_FIELDS)
        if given["channel_wise"] is DEFAULT and normalization not in DATA_NORMALIZATIONS:
            # a preset's channel-wise scales refine its data normalisation; with another one they do not apply
            channel_wise = False
        choose_trace = isinstance(conv_trace, str) and conv_trace == CHOOSE_TRACE
        if choose_trace and normalization != "model" and normalization in NORMALIZATIONS:
            if given["conv_trace"] is not DEFAULT:
                raise ConversionError(f"conv_trace={CHOOSE_TRACE!r} is decided by the model-based scale search; "
                                      f"with normalization={normalization!r} pass conv_trace=True or False")
            conv_trace, choose_trace = False, False  # the preset's search does not apply to another normalisation
        if not choose_trace:
            if isinstance(conv_trace, str) or conv_trace not in (True, False):
                raise ConversionError(f"conv_trace must be True, False or {CHOOSE_TRACE!r}, got {conv_trace!r}")
            conv_trace = bool(conv_trace)
        # seed=None draws one now, so every rebuild of this converter (other batch sizes, workers) shares it.
        seed = int(np.random.SeedSequence().entropy % 2 ** 63) if seed is None else int(seed) % 2 ** 64
        # What a worker needs to rebuild this converter (see recipe()).
        self.options = dict(input_encoding=input_encoding, hidden_neuron=hidden_neuron, read_out=read_out,
                            max_f=max_f, k=k, normalization=normalization, percentile=percentile, seed=seed,
                            num_threads=num_threads, initial_potential=initial_potential,
                            calibrate_bias=calibrate_bias, propagation=propagation, max_pool=max_pool,
                            channel_wise=channel_wise, calibrate_potential=calibrate_potential,
                            conv_trace=conv_trace, fold_mean_pool=fold_mean_pool, preset=preset, coding=coding,
                            ttfs_window=self.ttfs_window if coding == "ttfs" else None,
                            ttfs_simulation=self.ttfs_simulation if coding == "ttfs" else None)
        if coding == "ttfs":  # a rebuild (recipe, worker) must not pass them back as if chosen
            for name in RATE_ONLY:
                del self.options[name]
        self.input_model = _neuron_option(input_encoding, ENCODINGS, "input_encoding")
        self.hidden_model = _neuron_option(hidden_neuron, HIDDEN, "hidden_neuron")
        if normalization not in NORMALIZATIONS:
            raise ConversionError(f"unknown normalization {normalization!r}; choose one of "
                                  f"{', '.join(repr(n) for n in NORMALIZATIONS)}")
        if not 0 < float(percentile) <= 100:
            raise ConversionError(f"percentile must lie in (0, 100], got {percentile}")
        self.normalization, self.percentile = normalization, float(percentile)
        if not 0.0 <= float(initial_potential) < 1.0:
            raise ConversionError(f"initial_potential is a fraction of the threshold in [0, 1), got {initial_potential}")
        self.initial_potential, self.calibrate_bias = float(initial_potential), bool(calibrate_bias)
        self.calibrate_potential, self.channel_wise = bool(calibrate_potential), bool(channel_wise)
        # CHOOSE_TRACE: spikes until calibration data lets the scale search try the trace as well
        self.conv_trace_search = choose_trace
        self.conv_trace, self.fold_mean_pool = not choose_trace and conv_trace, bool(fold_mean_pool)
        for option in ("calibrate_bias", "calibrate_potential", "channel_wise"):
            if getattr(self, option) and normalization not in DATA_NORMALIZATIONS:
                raise ConversionError(f"{option} needs normalization 'data' or 'robust', got {normalization!r} "
                                      "(their scales, taken from calibration activations, say what rate each "
                                      f"activation should give); pass {option}=False to use it")
        if self.calibrate_potential and "v0" not in [p.name for p in self.hidden_model.spec.neuron_parameters]:
            raise ConversionError(f"calibrate_potential needs a per-neuron 'v0' parameter in hidden neuron "
                                  f"'{self.hidden_model.name}' (declare 'v0 = 0.0' without ': population' and "
                                  "the membrane with init=v0): each channel starts at its own potential")
        if propagation not in PROPAGATIONS:
            raise ConversionError(f"propagation must be one of {', '.join(map(repr, PROPAGATIONS))}, got {propagation!r}")
        self.propagation = propagation
        if max_pool not in MAX_RULES:
            raise ConversionError(f"max_pool must be one of {', '.join(map(repr, MAX_RULES))}, got {max_pool!r}")
        self.max_pool = max_pool
        if self.hidden_model.signed_spikes and max_pool == "winner":
            low = self.hidden_model.payload_range[0]
            why = ("may send negative spikes (no payload_range declared: unbounded; declare payload_range=(low, "
                   "high) if its payloads are never negative)") if low == -np.inf else (
                   f"sends negative spikes (its payload_range starts at {low:g})")
            raise ConversionError(f"hidden_neuron '{self.hidden_model.name}' {why}, which max_pool='winner' drops "
                                  "(a window passes its largest payload, at least 0); use max_pool='count'")
        if self.hidden_model.max_payload <= 0:
            raise ConversionError(f"hidden_neuron '{self.hidden_model.name}' declares payload_range "
                                  f"{self.hidden_model.payload_range}: its spikes never carry a positive value, so "
                                  "they cannot stand for a ReLU's output")
        if self.initial_potential and "v0" not in self.hidden_model.spec.attribute_names():
            raise ConversionError(f"initial_potential={self.initial_potential:g} needs a 'v0' parameter in hidden "
                                  f"neuron '{self.hidden_model.name}' (declare its membrane with init=v0)")
        for model, role, needs in ((self.input_model, "input_encoding", "rates"),
                                   (self.hidden_model, "hidden_neuron", "g_exc")):
            if needs not in model.spec.attribute_names():
                raise ConversionError(f"{role} neuron '{model.name}' must have a '{needs}' "
                                      f"{'parameter' if needs == 'rates' else 'input'}")
        self.read_out = (make_ttfs_readout(read_out, self.ttfs_simulation) if coding == "ttfs"
                         else make_readout(read_out, k, self.hidden_model))
        if not (np.isfinite(max_f) and max_f > 0):
            raise ConversionError(f"max_f must be positive, got {max_f}")
        self.max_f = float(max_f)
        self.input_scale = 1.0 if input_encoding in UNSCALED_ENCODINGS else self.max_f
        self.schedule = None  # TTFS: when each layer integrates and fires (set by _build)
        self.seed = seed
        self.num_threads = num_threads
        self.plans = self.factors = self.source = None
        # what calibration chose (see prepare_keras_model)
        self.bias_corrections, self.potential_corrections, self.calibration = {}, {}, {}
        self.network = None
        self.stop_steps = self.scores = None

    # -- conversion ------------------------------------------------------------------------------
    def load_keras_model(self, model, directory=None, scale_factor=None, show_info=True, batch_size=None,
                         calibration_data=None, compile=True, calibration_duration=None, format="keras"):
        """Read the model, normalise its weights and compile the spiking network; returns the Network.

        ``calibration_data`` (training samples like those given to predict, never test samples) is
        required by the "data" and "robust" normalisations and by ``calibrate_bias``; in the "model"
        normalisation it chooses the scale factor (unless ``scale_factor`` is given). Calibration
        simulates ``calibration_duration`` steps per sample (default: 200 for the model scale, 32 for
        bias calibration). ``directory`` is accepted for compatibility and ignored: builds go to the
        content-hash cache. ``compile=False`` leaves the build to whoever simulates (Dask workers).
        """
        self.prepare_keras_model(model, scale_factor=scale_factor, calibration_data=calibration_data,
                                 batch_size=batch_size, calibration_duration=calibration_duration, format=format)
        self.network = self._build(self.plans, self.batch_size)
        started = time.perf_counter()
        if compile:
            self.network.compile()
        self.build_seconds = time.perf_counter() - started
        if show_info:
            print(self.summary())
        return self.network

    def load_onnx_model(self, model, **options):
        """load_keras_model for an ONNX file (or onnx.ModelProto) exported from PyTorch: same options."""
        return self.load_model(model, format="onnx", **options)

    def load_model(self, model, format=None, **options):
        """load_keras_model for any supported format (FORMATS), chosen from the file name by default."""
        return self.load_keras_model(model, format=format or format_of(model), **options)

    def prepare_keras_model(self, model, scale_factor=None, calibration_data=None, batch_size=None,
                            calibration_duration=None, format="keras"):
        """Plan, normalise and calibrate (what a distributed run needs on the client); calibration
        builds and simulates the network here."""
        self.source = open_model(model, format)
        if self.fold_mean_pool:
            folded = fold_mean_pooling(self.source.plans)
            log.info("mean pooling folded into the Dense layer that reads it: %s", ", ".join(
                sorted({p.name for p in self.source.plans} - {p.name for p in folded})) or "none")
            self.source = replace(self.source, plans=folded)
        plans = self.source.plans
        self.plans, self.keras_model = plans, self.source.model if format == "keras" else None
        self.batch_size = int(batch_size or DEFAULT_BATCH)
        self.bias_corrections, self.potential_corrections, self.calibration = {}, {}, {}
        if self.conv_trace_search:  # undecided again: a converter loaded twice must not keep the last choice
            self.conv_trace, self.options["conv_trace"] = False, CHOOSE_TRACE
        x = activations = None
        if self.coding == "ttfs" and calibration_duration is not None:
            raise ConversionError("calibration_duration applies to rate coding only: coding='ttfs' simulates "
                                  "nothing to calibrate (its windows come from the ANN's activations)")
        if calibration_data is not None:
            x = self._prepare(calibration_data)  # warns, as predict does, when values leave [0, 1]
            if not np.any(x):
                raise ConversionError("calibration_data is all zeros: no layer is active on it, so no scale can be "
                                      "chosen; pass training samples")
            activations = self.source.activations(x.reshape((-1,) + plans[0].shape))
        # biases act every step, weights per input spike: biases are scaled by the encoding's spike rate
        self.bias_gain = (encoding_gain(self.input_model, self.input_scale, self.seed)
                          if self.coding == "rate" and any(plan.bias is not None for plan in plans) else 1.0)
        self.calibration["encoding_gain"] = self.bias_gain
        self._normalise(plans, scale_factor, activations)
        if self.coding == "ttfs":  # what calibration chose: each layer's maximum, the value of a window's first step
            self.calibration["ttfs_scales"] = {
                name: float(value) if np.ndim(value) == 0 else dict(min=float(np.min(value)), max=float(np.max(value)))
                for name, value in self.lambdas.items()}
            log.info("ttfs: %d samples chose the scales (a window's first step) %s", len(x),
                     {name: format_factor(value) for name, value in self.lambdas.items()})
        if self.normalization == "model" and x is not None and scale_factor is None:
            duration = check_duration(calibration_duration or 200)
            scaling, scores = choose_model_scale(self, x, ann_decisions(activations), duration)
            # model_scale: Diehl's common scale, None when a gain on the raw Keras weights won (raw_weight_gain)
            self.calibration.update(model_scale=scaling.value if scaling.family == "model" else None,
                                    raw_weight_gain=scaling.value if scaling.family == "raw" else None,
                                    scale_agreement=scores, scale_duration=duration)
            if self.conv_trace_search and traceable(plans):
                # decided (where there is a layer to trace): a rebuild (recipe, worker) uses the choice
                self.options["conv_trace"] = self.conv_trace = scaling.conv_trace
                self.calibration["conv_trace"] = scaling.conv_trace
        if self.calibrate_bias or self.calibrate_potential:
            what = "calibrate_bias" if self.calibrate_bias else "calibrate_potential"
            if x is None:
                raise ConversionError(f"{what} needs calibration_data: pass load_keras_model(..., "
                                      "calibration_data=X_train[:1000])")
            duration = check_duration(calibration_duration or 32)
            self.rebuild()
            self.bias_corrections, self.potential_corrections = calibrate_biases(
                self, x, activations, duration, bias=self.calibrate_bias, potential=self.calibrate_potential)
            self.calibration.update(bias_duration=duration, bias_corrections={
                name: float(np.abs(c).mean()) for name, c in self.bias_corrections.items()},
                potential_corrections={name: float(np.abs(c).mean())
                                       for name, c in self.potential_corrections.items()})

    def recipe(self, batch_size=None):
        """Everything a worker needs to rebuild this spiking network, with no Keras: see from_recipe()."""
        if self.plans is None:
            raise ConversionError("no model loaded: call load_keras_model() first")
        return NetworkRecipe(dict(self.options), tuple(self.plans), tuple(self.factors),
                             tuple(self.bias_factors), dict(self.lambdas), int(batch_size or self.batch_size),
                             dict(self.bias_corrections), dict(self.potential_corrections))

    @classmethod
    def from_recipe(cls, recipe, num_threads=None):
        """Rebuild and compile (a cache hit where the module is cached) the network a recipe describes."""
        options = dict(recipe.options)
        if num_threads is not None:
            options["num_threads"] = num_threads
        conv = cls(**options)
        conv.plans, conv.keras_model, conv.source = list(recipe.plans), None, None
        conv.factors, conv.bias_factors = list(recipe.factors), list(recipe.bias_factors)
        conv.lambdas, conv.batch_size = dict(recipe.lambdas), recipe.batch_size
        conv.bias_corrections = dict(recipe.bias_corrections)
        conv.potential_corrections = dict(recipe.potential_corrections)
        conv.rebuild()
        return conv

    def rebuild(self):
        """Build and compile the network for the current plans, factors and corrections (a cache hit
        whenever only weights or parameters changed)."""
        self.network = self._build(self.plans, self.batch_size)
        self.network.compile()

    def _normalise(self, plans, scale_factor, activations):
        layers = plans[1:]
        if self.normalization in DATA_NORMALIZATIONS:
            if activations is None:
                raise ConversionError(f"normalization '{self.normalization}' needs calibration_data: pass "
                                      "load_keras_model(..., calibration_data=X_train[:1000])")
            if scale_factor is not None:
                raise ConversionError("scale_factor applies to model-based normalisation only" + (
                    " (coding='ttfs' takes each layer's scale from calibration maxima)" if self.coding == "ttfs" else ""))
            percentile = self.percentile if self.normalization == "robust" else None
            self.factors, bias_factors, self.lambdas = data_based_factors(plans, activations, percentile,
                                                                          self.channel_wise)
            self.bias_factors = [factor * self.bias_gain for factor in bias_factors]
            for index, plan in enumerate(layers):  # a linear layer feeding an Add is scaled to the Add's lambda
                reader = next((p for p in layers if plan.name in p.inputs), None)
                if fused_into_add(plan, plans):
                    self.factors[index] = weight_factor(plan.weights, self.lambdas[plan.inputs[0]],
                                                        self.lambdas[reader.name])
                    self.bias_factors[index] = self.bias_gain / self.lambdas[reader.name]
        elif self.normalization == "model" and scale_factor is not None:
            self.factors = model_based_factors([p.weights for p in layers], scale_factor)
            self.bias_factors, self.lambdas = [factor * self.bias_gain for factor in self.factors], {}
        elif self.normalization == "model":
            # No scale given: the Keras weights as they are, which is what ANNarchy 5's converter runs in
            # practice (it assigns its factors to populations, not to the weights). With calibration
            # data, choose_model_scale replaces this by the best model-based scale or raw-weight gain.
            self.factors, self.bias_factors = [1.0] * len(layers), [self.bias_gain] * len(layers)
            self.lambdas = {}
        else:
            self.factors, self.bias_factors = [1.0] * len(layers), [self.bias_gain] * len(layers)
            self.lambdas = {}

    def _build(self, plans, batch_size):
        if self.coding == "ttfs":
            built = build_ttfs_network(plans, self.factors, self.bias_factors, self.lambdas, self.ttfs_window,
                                       batch_size, self.seed, self.num_threads, self.read_out,
                                       simulation=self.ttfs_simulation)
            self.populations, self.projections = built.populations, built.projections
            self.thresholds, self.schedule = built.thresholds, built.schedule
            self.input_scale = 1.0 / float(self.lambdas[plans[0].name])  # values as fractions of lambda
            return built.network
        settings = RateSettings(
            input_model=self.input_model, hidden_model=self.hidden_model, read_out=self.read_out,
            conv_trace=self.conv_trace, lower_thresholds=self.normalization == "model",
            initial_potential=self.initial_potential, propagation=self.propagation, seed=self.seed,
            num_threads=self.num_threads, max_pool=self.max_pool)
        built = build_rate_network(plans, settings, self.factors, self.bias_factors, self.lambdas,
                                   self.bias_corrections, self.potential_corrections, batch_size)
        self.populations, self.projections, self.thresholds = built.populations, built.projections, built.thresholds
        return built.network

    def get_annarchy_network(self):
        """Compatibility alias: the annsnn Network."""
        return self.network

    def summary(self):
        rows = [("layer", "type", "shape", "w mean", "w std", "w min", "w max", "factor", "vt")]
        factors = iter([None] + list(self.factors))
        for plan in self.plans:
            vt = self.thresholds.get(plan.name)
            w, factor = plan.weights, next(factors)
            stats = ("",) * 4 if w is None else tuple(f"{f(w):.4f}" for f in (np.mean, np.std, np.min, np.max))
            factor = "" if factor is None else format_factor(factor)
            rows.append((plan.name, plan.keras_class, str(plan.shape), *stats, factor,
                         "" if vt is None else f"{vt:.2f}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    # -- prediction ------------------------------------------------------------------------------
    def _prepare(self, samples, check_range=True):
        if self.plans is None:
            raise ConversionError("no model loaded: call load_keras_model() first")
        x = np.asarray(samples)
        if x.dtype == object or not np.issubdtype(x.dtype, np.number):
            raise InputError(f"samples must be numeric, got dtype {x.dtype}")
        shape = self.plans[0].shape
        size = int(np.prod(shape))
        if x.ndim < 2:
            raise InputError(f"samples need a leading sample axis: got shape {x.shape}, expected (n, {shape})")
        if int(np.prod(x.shape[1:])) != size:
            raise InputError(f"each sample must have {size} values (model input {shape}); got samples of shape "
                             f"{x.shape[1:]} ({int(np.prod(x.shape[1:]))} values)")
        x = x.reshape(len(x), size).astype(np.float32)
        bad = ~np.isfinite(x).all(axis=1)
        if bad.any():
            raise InputError(f"{int(bad.sum())} sample(s) contain NaN or inf, first at index {int(np.argmax(bad))}")
        if check_range and x.size and (x.max() > 1.0 or x.min() < 0.0):
            use = ("divides them by the input's calibration maximum and spikes at once above it"
                   if self.coding == "ttfs" else f"multiplies them by max_f={self.max_f:g}")
            warnings.warn(f"samples range over [{x.min():g}, {x.max():g}]; the converter expects [0, 1] and "
                          f"{use}", UserWarning, stacklevel=3)
        return x

    def evaluate(self, samples, labels, duration_per_sample=None, batch_size=None, progress=True, client=None,
                 chunk_size=None):
        """Accuracy, accuracy against time step, and SynOps next to the ANN's MACs; see Evaluation.

        With a ``dask.distributed.Client`` the samples are simulated on its workers (see predict).
        """
        from .evaluation import evaluate
        return evaluate(self, samples, labels, duration_per_sample, batch_size=batch_size, progress=progress,
                        client=client, chunk_size=chunk_size)

    def steps_for(self, duration):
        """The steps to simulate for ``duration_per_sample`` (None: 1000 for rate coding, as the reference).
        A TTFS network is decided when its output window opens (membrane read-out) or closes: ``None``
        or any longer duration simulates exactly that many steps, a shorter one is an error."""
        if self.coding != "ttfs":
            return check_duration(DEFAULT_DURATION if duration is None else duration)
        if self.schedule is None:
            raise ConversionError("no model loaded: call load_keras_model() first")
        needed = self.schedule.duration(self.read_out.mode)
        if duration is not None and check_duration(duration) < needed:
            raise InputError(f"coding='ttfs' with {len(set(self.schedule.windows.values()))} windows of "
                             f"{self.ttfs_window} steps decides after {needed} steps; duration_per_sample="
                             f"{duration} is too short (pass None or at least {needed})")
        return needed

    def ensure_batch_size(self, batch_size):
        """Rebuild the network for another batch size (same code, so the build is a cache hit)."""
        if batch_size is not None and int(batch_size) != self.network.batch_size:
            self.network = self._build(self.plans, int(batch_size))
            self.network.compile()

    def predict(self, samples, duration_per_sample=None, multiple=False, batch_size=None, progress=True,
                on_chunk=None, client=None, chunk_size=None):
        """Class index per sample (a list of tied classes per sample if ``multiple``).

        After the call, ``self.scores`` holds the (n, classes) read-out values,
        ``self.stop_steps`` the decision step of early-stopping read-outs (-1: none),
        ``self.synaptic_events`` the (n, projections) events delivered and
        ``self.spike_totals`` the spikes of each population over all samples.
        ``on_chunk(start, items)`` is called after each simulated batch (for monitors).

        ``client`` (a ``dask.distributed.Client``) splits the samples into chunks of ``chunk_size``
        (a multiple of the batch size) simulated on its workers; results are identical to a local run.
        """
        outcome = self.run(self._prepare(samples), None, self.steps_for(duration_per_sample), batch_size=batch_size,
                           client=client, chunk_size=chunk_size, progress=progress, on_chunk=on_chunk)
        return self.conclude(outcome, multiple)

    def run(self, x, y, duration, batch_size=None, client=None, chunk_size=None, progress=False, on_chunk=None):
        """An Outcome for prepared samples ``x``, here or on ``client``'s workers; with labels ``y`` it
        also holds the accuracy curve (evaluate)."""
        self._hint_calibration_duration(duration)
        if client is not None:
            if on_chunk is not None:
                raise InputError("on_chunk runs in this process and cannot be combined with client=")
            from annsnn.distributed import simulate_on_cluster
            return simulate_on_cluster(self, client, x, y, duration, batch_size, chunk_size, progress)
        self.ensure_batch_size(batch_size)
        return self.run_here(x, y, duration, progress=progress, on_chunk=on_chunk)

    def _hint_calibration_duration(self, duration):
        # a bias corrected at 32 steps also corrects the start-up deficit of 32-step runs, which longer runs
        # no longer have (zoo: calibrating at 128 moved the three T = 128 misses within 0.1 of the ANN)
        # the same for the model-based scale search, whose choice (trace included) depends on the duration
        for what, key in (("bias calibration", "bias_duration"), ("the scale search", "scale_duration")):
            calibrated = self.calibration.get(key)
            if calibrated and not 0.5 <= duration / calibrated <= 2.0:
                log.info("%s ran %d steps per sample and this run %d: a run follows the ANN most closely when "
                         "calibrated at its own duration (load_keras_model(..., calibration_duration=%d))",
                         what, calibrated, duration, duration)

    def run_here(self, x, y, duration, first_id=0, progress=False, on_chunk=None):
        """run() in this process, samples numbered from ``first_id`` (a Dask worker runs its chunks so)."""
        if y is None:
            return self.simulate_samples(x, duration, first_id=first_id, progress=progress, on_chunk=on_chunk)
        from .evaluation import score_samples
        return score_samples(self, x, y, duration, first_id=first_id, progress=progress)

    def simulate_samples(self, x, duration, first_id=0, progress=False, on_chunk=None):
        """Simulate prepared samples ``x`` (numbered from ``first_id``) batch by batch; returns an Outcome."""
        net, batch = self.network, self.network.batch_size
        outputs = self.populations[-1]
        n = len(x)
        fan_outs = [proj.fan_out() for proj in self.projections]
        # a projection whose events all reach the same number of post neurons counts spikes times that
        uniform = [int(f[0]) if len(f) and (f == f[0]).all() else None for f in fan_outs]
        spiking = [p for p in self.populations if p.spec.spiking]
        outcome = Outcome(first_id, np.zeros((n, outputs.size)), np.full(n, -1, dtype=np.int64),
                          np.zeros((n, len(self.projections))), np.zeros(len(self.populations)),
                          graded_events=np.zeros((n, len(self.projections))))
        bar = progress_bar(n, progress)
        for start in range(0, n, batch):
            items = self.load_batch(x[start:start + batch], first_id + start)
            if self.read_out.stop_condition:
                outcome.stop_steps[start:start + items] = net.simulate_until(
                    duration, outputs, self.read_out.stop_condition, items=items)
            else:
                net.simulate(duration, items=items)
            spikes = {p.index: p.spike_counts[:items].sum(axis=1, dtype=np.int64) for p in spiking}
            stopped = outcome.stop_steps[start:start + items]
            steps_run = np.where(stopped > 0, stopped, duration)
            for k, (proj, fan_out) in enumerate(zip(self.projections, fan_outs)):
                if not proj.graded:
                    outcome.synaptic_events[start:start + items, k] = (
                        spikes[proj.pre.index] * uniform[k] if uniform[k] is not None
                        else proj.pre.spike_counts[:items] @ fan_out)
                elif proj.kind in ("dense", "conv"):  # graded: the value at the end stands for every step
                    sending = proj.pre.get(proj.graded)[:items] != 0
                    outcome.graded_events[start:start + items, k] = (sending @ fan_out) * steps_run
            outcome.spike_totals += [float(spikes[p.index].sum()) if p.spec.spiking else 0.0
                                     for p in self.populations]
            if self.schedule is not None and self.schedule.event:  # latency on the clock grid
                outcome.stop_steps[start:start + items] = self.read_out.decision_steps(outputs, items, self.schedule)
            outcome.scores[start:start + items] = self.read_out.scores(outputs, items)
            if on_chunk is not None:
                on_chunk(start, items)
            if bar is not None:
                bar.update(items)
        if bar is not None:
            bar.close()
        return outcome

    def load_batch(self, chunk, first_id):
        """Reset the network and write one batch of prepared samples (numbered from ``first_id``) to the
        input population; returns the number of items."""
        net = self.network
        net.reset()
        net.sample_ids = np.arange(first_id, first_id + net.batch_size)
        self.populations[0].set("rates", chunk * np.float32(self.input_scale), items=len(chunk))
        return len(chunk)

    def layer_rates(self, x, duration, population):
        """(n, N) spikes per step of ``population`` for prepared samples ``x``, over the full duration
        (no early stop): what calibration compares with the ANN's activations."""
        rates = []
        for start in range(0, len(x), self.network.batch_size):
            items = self.load_batch(x[start:start + self.network.batch_size], start)
            self.network.simulate(duration, items=items)
            # a neuron whose spikes carry their number (multi-spike) sums them in ``count``
            counts = (population.get("count")[:items] if population.spec.payload and "count" in population.spec.variables
                      else population.spike_counts[:items])
            rates.append(counts / float(duration))
        return np.concatenate(rates) if rates else np.zeros((0, population.size))

    def conclude(self, outcome, multiple=False):
        """Keep an Outcome's figures on the converter and decide a class per sample."""
        self.scores, self.stop_steps = outcome.scores, outcome.stop_steps
        self.synaptic_events, self.spike_totals = outcome.synaptic_events, outcome.spike_totals
        ids = range(outcome.first_id, outcome.first_id + len(outcome))
        return decide(outcome.scores, ids, self.seed, multiple) if len(outcome) else []


def check_duration(duration):
    if not isinstance(duration, (int, np.integer)) or isinstance(duration, bool) or duration < 1:
        raise InputError(f"duration_per_sample must be a positive integer, got {duration!r}")
    return int(duration)


#: The Keras model's activation of every plan (the name earlier versions exported from here).
calibration_activations = keras_activations
