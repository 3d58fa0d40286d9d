"""IF_signed (Wang et al., IJCAI 2022): a net count that follows the quantised ReLU of the summed input,
whatever order the input arrives in."""
import numpy as np
import pytest

import annsnn
from annsnn import models


def _drive(model, currents, v0=0.5, vt=1.0):
    """Simulate one population of ``model`` whose bias is set to currents[k] in step k; returns it."""
    net = annsnn.Network(batch_size=currents.shape[1], propagation="same_step")
    pop = net.create(currents.shape[2], model)
    pop.vt, pop.v0 = vt, np.full(pop.size, v0 * vt)
    net.reset()
    for current in currents:
        pop.bias = current
        net.simulate(1)
    return pop


def test_net_count_is_the_quantised_relu_of_the_summed_input_in_either_order():
    rng = np.random.default_rng(1)
    steps, batch, n, vt = 40, 2, 200, 0.8
    early = rng.uniform(0.0, 0.7 * vt, (steps // 2, batch, n))   # excitation first ...
    late = -rng.uniform(0.0, 0.7 * vt, (steps // 2, batch, n))   # ... then inhibition (|step input| < vt)
    for currents in (np.concatenate([early, late]), np.concatenate([late, early])):
        currents = currents.astype(np.float32)
        total = 0.5 * vt + currents.astype(np.float64).sum(axis=0)
        want = np.maximum(0.0, np.floor(total / vt))
        signed = _drive(models.IF_signed, currents, vt=vt)
        np.testing.assert_array_equal(signed.count, want)
        # a neuron with a net count keeps its membrane within one threshold: nothing is lost
        held = want > 0
        assert (signed.v[held] >= -1e-5).all() and (signed.v[held] < vt + 1e-5).all()
    # IF_subtract cannot take early spikes back: it over-counts when excitation comes first
    subtract = _drive(models.IF_subtract, np.concatenate([early, late]).astype(np.float32), vt=vt)
    total = 0.5 * vt + np.concatenate([early, late]).sum(axis=0)
    assert (subtract.spike_counts > np.maximum(0.0, np.floor(total / vt))).mean() > 0.2


def test_signed_spikes_propagate_as_plus_and_minus_one_like_a_numpy_oracle():
    rng = np.random.default_rng(2)
    steps, batch, n1, n2 = 30, 2, 12, 6
    currents = rng.normal(0.0, 0.6, (steps, batch, n1)).astype(np.float32)
    w = rng.normal(0.0, 0.5, (n1, n2)).astype(np.float32)
    net = annsnn.Network(batch_size=batch, propagation="same_step")
    h1, h2 = net.create(n1, models.IF_signed), net.create(n2, models.IF_signed)
    assert net.connect(h1, h2, weights=w).payload == "sign"
    h1.v0 = np.full(n1, 0.5)
    net.reset()
    v1, v2 = np.full((batch, n1), 0.5), np.zeros((batch, n2))
    c1, c2 = np.zeros_like(v1), np.zeros_like(v2)
    negatives = 0
    for current in currents:
        h1.bias = current
        net.simulate(1)
        v1 += current
        s1 = np.where(v1 >= 1.0, 1.0, np.where((v1 < 0) & (c1 > 0), -1.0, 0.0))
        v1 -= s1
        c1 += s1
        v2 += s1 @ w
        s2 = np.where(v2 >= 1.0, 1.0, np.where((v2 < 0) & (c2 > 0), -1.0, 0.0))
        v2 -= s2
        c2 += s2
        negatives += int((s1 < 0).sum() + (s2 < 0).sum())
        np.testing.assert_allclose(h1.v, v1, atol=1e-4)
        np.testing.assert_allclose(h2.v, v2, atol=1e-4)
    assert negatives > 10  # negative spikes happened, in both layers' oracle
    np.testing.assert_array_equal(h2.count, c2)
    assert (h2.count >= 0).all()


def test_count_rule_max_pooling_passes_the_window_largest_net_count_as_it_falls():
    rng = np.random.default_rng(3)
    steps, batch = 24, 2
    net = annsnn.Network(batch_size=batch, propagation="same_step")
    pre = net.create((4, 4, 2), models.IF_signed)
    post = net.create((2, 2, 2), models.IaF_Acc)
    net.connect_pooling(pre, post, "max", 2, max_rule="count")
    pre.v0 = np.full(pre.size, 0.5)
    net.reset()
    fell = 0
    previous = np.zeros((batch, 8))
    for k in range(steps):
        pre.bias = rng.normal(0.3 if k < steps // 2 else -0.4, 0.4, (batch, pre.size)).astype(np.float32)
        net.simulate(1)
        windows = pre.count.reshape(batch, 2, 2, 2, 2, 2).transpose(0, 1, 3, 5, 2, 4).reshape(batch, 8, 4)
        np.testing.assert_array_equal(post.v, windows.max(axis=-1))
        fell += int((post.v < previous).sum())
        previous = post.v.copy()
    assert fell > 0  # some window's largest count went down and the pooled neuron followed


def test_the_converter_accepts_signed_neurons_and_calibrates_on_their_net_count():
    from annsnn import ANNtoSNNConverter
    conv = ANNtoSNNConverter(preset="annsnn", hidden_neuron="IF_signed")
    assert conv.hidden_model is models.IF_signed
    with pytest.raises(annsnn.ConversionError, match="IF_signed"):
        ANNtoSNNConverter(hidden_neuron="IF_sign")


def test_the_cli_offers_every_hidden_neuron_the_converter_knows():
    from annsnn.cli import build_parser
    from annsnn.conversion.converter import HIDDEN
    args = build_parser().parse_args(["convert", "model.keras", "--hidden-neuron", "IF_signed"])
    assert args.hidden_neuron == "IF_signed"
    convert = next(a for a in build_parser()._subparsers._group_actions[0].choices["convert"]._actions
                   if a.dest == "hidden_neuron")
    assert set(convert.choices) == set(HIDDEN)


def test_winner_max_pooling_would_drop_negative_spikes_so_it_is_refused():
    from annsnn import ANNtoSNNConverter
    with pytest.raises(annsnn.ConversionError, match="max_pool='winner' drops"):
        ANNtoSNNConverter(preset="annsnn", max_pool="winner")
    with pytest.raises(annsnn.ConversionError, match="IF_signed"):
        ANNtoSNNConverter(hidden_neuron="IF_signed")  # the reference preset pools by winner


def test_a_signed_spike_is_priced_as_an_accumulate_a_multi_spike_as_a_multiply():
    from types import SimpleNamespace
    from annsnn.conversion.evaluation import _multiplies
    net = annsnn.Network(batch_size=1)
    out = net.create(2, models.IF_subtract)
    signed = net.connect(net.create(2, models.IF_signed), out)
    burst = net.connect(net.create(2, models.IF_multispike), out)
    plain = net.connect(net.create(2, models.IF_subtract), out)
    rate = SimpleNamespace(coding="rate")
    assert (_multiplies(signed, rate), _multiplies(burst, rate), _multiplies(plain, rate)) == (False, True, False)
    # the range describes the neuron's own payload: another variable sent instead is priced as a multiply
    signed.send_payload("v")
    assert _multiplies(signed, rate)


# -- payload_range: what the converter reads from a neuron instead of its name -------------------------
def test_payload_range_is_checked_and_read_as_the_steps_largest_charge():
    assert models.IF_signed.payload_range == (-1.0, 1.0) and models.IF_signed.signed_spikes
    assert models.IF_multispike.max_payload == np.inf and not models.IF_multispike.signed_spikes
    assert models.IF_subtract.payload_range is None and models.IF_subtract.max_payload == 1.0
    text = dict(parameters="vt = 1.0", equations="dv/dt = g_exc : init=0\nn = n : init=0", spike="v > vt",
                reset="n = 1; v -= vt", name="Burst")
    assert annsnn.Neuron(payload="n", **text).payload_range == (-np.inf, np.inf)
    for bad, why in (((2.0, 1.0), "low <= high"), ((0.0, float("nan")), "not NaN"), ((1.0,), "pair"),
                     ("12", "pair")):
        with pytest.raises(annsnn.EquationError, match=why) as caught:
            annsnn.Neuron(payload="n", payload_range=bad, **text)
        assert caught.value.model == "Burst" and caught.value.section == "payload_range"
    with pytest.raises(annsnn.EquationError, match="needs a payload"):
        annsnn.Neuron(payload_range=(0, 1), **text)
    # the range travels with pickles (workers) and with the read-out and trace variants
    import pickle
    assert pickle.loads(pickle.dumps(models.IF_signed)).payload_range == (-1.0, 1.0)
    assert models.with_spike_trace(models.IF_signed).payload_range == (-1.0, 1.0)


def test_a_users_own_signed_neuron_is_refused_by_winner_pooling_by_its_range():
    from annsnn import ANNtoSNNConverter
    mine = annsnn.Neuron(parameters=models.IF_signed.parameters, equations=models.IF_signed.equations,
                         spike=models.IF_signed.spike, reset=models.IF_signed.reset, payload="sign",
                         payload_range=(-1, 1), name="MySigned")
    with pytest.raises(annsnn.ConversionError, match="'MySigned' sends negative spikes"):
        ANNtoSNNConverter(hidden_neuron=mine, max_pool="winner")
    ANNtoSNNConverter(hidden_neuron=mine, max_pool="count")  # accepted where pooling keeps the sign
    # a payload neuron that declares no range may send anything: refused too, saying how to declare it
    burst = annsnn.Neuron(parameters=models.IF_multispike.parameters, equations=models.IF_multispike.equations,
                          spike=models.IF_multispike.spike, reset=models.IF_multispike.reset, payload="n",
                          name="MyBurst")
    with pytest.raises(annsnn.ConversionError, match="no payload_range declared"):
        ANNtoSNNConverter(hidden_neuron=burst, max_pool="winner")


def test_a_hidden_neuron_whose_spikes_are_never_positive_is_refused():
    """Calibration caps a layer's target rate at the largest payload: a range below zero would make
    that cap negative, and such a neuron cannot carry a ReLU's output anyway."""
    from annsnn import ANNtoSNNConverter
    negative = annsnn.Neuron(parameters=models.IF_signed.parameters, equations=models.IF_signed.equations,
                             spike=models.IF_signed.spike, reset=models.IF_signed.reset, payload="sign",
                             payload_range=(-1, -0.5), name="OnlyNegative")
    with pytest.raises(annsnn.ConversionError, match="'OnlyNegative' declares payload_range"):
        ANNtoSNNConverter(hidden_neuron=negative, max_pool="count")


def test_a_users_own_neuron_counts_at_the_output_with_its_own_dynamics():
    """Spike-count read-outs use the hidden neuron's dynamics plus a counter: the built-in counters
    for the built-in neurons, the user's neuron itself (here reset by subtraction) otherwise."""
    from annsnn import ANNtoSNNConverter
    builtin = {"IaF": "IaF_ReadOut", "IF_subtract": "IF_subtract_ReadOut", "IF_multispike": "IF_subtract_ReadOut",
               "IF_signed": "IF_subtract_ReadOut"}
    for hidden, counter in builtin.items():
        assert ANNtoSNNConverter(hidden_neuron=hidden, max_pool="count").read_out.neuron.name == counter
    mine = annsnn.Neuron(parameters=models.IF_subtract.parameters, equations=models.IF_subtract.equations,
                         spike=models.IF_subtract.spike, reset=models.IF_subtract.reset, name="MySubtract")
    counter = ANNtoSNNConverter(hidden_neuron=mine, read_out="time_to_first_spike").read_out.neuron
    assert counter.name == "MySubtract_ReadOut" and counter.reset == "v -= vt\nsc += 1"
    # 0.75 per step from 0: v = .75, 1.5, 1.25, 1.0, 1.75, 1.5, 1.25, 1.0 before each reset, so it fires
    # at steps 2, 3, 5, 6, 7; IaF's reset to zero would fire at 2, 4, 6, 8 only
    net = annsnn.Network(batch_size=1)
    pop = net.create(1, counter)
    pop.bias = 0.75
    net.compile()
    net.simulate(8)
    assert pop.sc[0, 0] == 5


def test_the_output_counter_of_a_users_neuron_handles_comments_sc_and_analog_neurons():
    from annsnn import ANNtoSNNConverter
    # a reset ending in a comment still counts (the count is on a line of its own)
    commented = annsnn.Neuron(parameters=models.IaF.parameters, equations=models.IaF.equations, spike="v > vt",
                              reset="v = vr  # back to rest", name="Commented")
    net = annsnn.Network(batch_size=1)
    pop = net.create(1, models.counting(commented, "CommentedCount"))
    pop.bias = 0.75
    net.compile()
    net.simulate(8)
    assert pop.sc[0, 0] == 4  # reset to rest: fires at steps 2, 4, 6, 8
    # a neuron that already has 'sc' is refused, naming it
    has_sc = annsnn.Neuron(parameters=models.IaF.parameters, equations=models.IaF.equations + "\nsc = sc : init=0",
                           spike="v > vt", reset="v = vr", name="HasSc")
    with pytest.raises(annsnn.ConversionError, match="'HasSc' declares 'sc'"):
        ANNtoSNNConverter(hidden_neuron=has_sc, read_out="spike_count")
    ANNtoSNNConverter(hidden_neuron=has_sc, read_out="membrane_potential")  # no counter needed
    # a neuron that does not spike counts with IaF at the output, as before
    analog = annsnn.Neuron(parameters="bias = 0.0", equations="r = max(g_exc + bias, 0.0)", output="r", name="Analog")
    assert ANNtoSNNConverter(hidden_neuron=analog, read_out="spike_count").read_out.neuron.name == "IaF_ReadOut"


def test_calibration_caps_signed_targets_at_one_spike_per_step(monkeypatch):
    """A signed neuron sends at most one threshold per step, so the rate calibration aims at is capped
    at vt (as for IF_subtract); a multi-spike neuron's is not. With the SNN's rate faked at exactly that
    capped target, the bias correction is zero for the one and positive for the other."""
    from tensorflow import keras
    from annsnn import ANNtoSNNConverter
    from annsnn.conversion.calibration import calibrate_biases
    from annsnn.conversion.converter import calibration_activations
    rng = np.random.default_rng(5)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"),
                              keras.layers.Dense(3)])
    x = rng.uniform(0, 1, (40, 6)).astype(np.float32)
    for neuron, over in (("IF_signed", False), ("IF_multispike", True)):
        # the 50th percentile: half the activations lie above lambda, so the cap matters
        conv = ANNtoSNNConverter(preset="annsnn", hidden_neuron=neuron, percentile=50, calibrate_bias=False,
                                 calibrate_potential=False, seed=0)
        conv.load_keras_model(model, show_info=False, calibration_data=x)
        activations = calibration_activations(model, conv.plans, x)
        names = [p.name for p in conv.plans]

        def capped_rates(x_, steps, population):
            act = activations[names.index(population.name)]
            return np.clip(conv.bias_gain * act / conv.lambdas[population.name], 0.0, 1.0)

        monkeypatch.setattr(conv, "layer_rates", capped_rates)
        biases, _ = calibrate_biases(conv, x, activations, 8, bias=True, potential=False)
        hidden = names[1]
        assert (biases[hidden] > 1e-4).any() == over, neuron
        if not over:
            np.testing.assert_allclose(biases[hidden], 0.0, atol=1e-6)
