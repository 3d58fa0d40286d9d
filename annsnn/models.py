"""Built-in neuron models, written in the same text syntax users write.

Reference: ANNarchy's ANN-to-SNN converter (IaF and its read-out variants,
Poisson "CPN", Izhikevich intrinsically bursting "IB", phase-shift
oscillation "PSO"). Nothing here has a hand-written code path.
"""
from .neuron import Neuron

#: Hidden-layer integrate-and-fire neuron, reset to vr. ``bias`` is a constant input current
#: (converted layer biases); 0 leaves the reference dynamics unchanged. ``v0`` is where the membrane
#: starts after a reset of the network (0 as in the reference; vt/2 halves the expected quantisation
#: error of rate coding, Bu et al. AAAI 2022). ``v0`` is per neuron: potential calibration starts each
#: channel at its own potential.
IaF = Neuron(
    parameters="""
        vt = 1.0 : population
        vr = 0.0 : population
        v0 = 0.0
        bias = 0.0
    """,
    equations="dv/dt = g_exc + bias : init=v0, min=-2.0",
    spike="v > vt",
    reset="v = vr",
    name="IaF",
)


def counting(neuron, name):
    """``neuron`` that also counts its spikes in ``sc`` (the output layer of spike-count read-outs); a
    spike carrying a payload counts as its payload. The count goes on a line of its own: a reset may
    end in a # comment."""
    count = "sc += " + (neuron.payload or "1")
    return Neuron(parameters=neuron.parameters, equations=neuron.equations + "\nsc = sc : init=0.0",
                  spike=neuron.spike, reset=f"{neuron.reset}\n{count}" if neuron.reset else count, name=name,
                  active=neuron.active, output=neuron.output, refractory=neuron.refractory, payload=neuron.payload,
                  payload_range=neuron.payload_range)


def with_spike_trace(neuron, tau=20.0):
    """``neuron`` that also keeps ``mask``, a trace of its spikes: it decays with time constant ``tau``
    (steps) and rises by 1/tau per spike, so it estimates the spike rate. ANNarchy's converter feeds
    convolution and pooling layers this trace instead of the spikes."""
    # a spike carrying a payload (multi-spike: its number of spikes) counts that many
    rise = f"{neuron.payload}/mask_tau" if neuron.payload else "1.0/mask_tau"
    # a new line, not "; ": a reset may end in a # comment
    reset = f"{neuron.reset}\nmask += {rise}" if neuron.reset else f"mask += {rise}"
    return Neuron(parameters=f"{neuron.parameters}\nmask_tau = {float(tau)!r} : population",
                  equations=f"{neuron.equations}\ndmask/dt = -mask/mask_tau : init=0.0, unless_refractory",
                  spike=neuron.spike, reset=reset, name=f"{neuron.name}_trace", output=neuron.output,
                  active=neuron.active, refractory=neuron.refractory, payload=neuron.payload,
                  payload_range=neuron.payload_range)


#: Output layer for spike-count read-outs: IaF that also counts its spikes in ``sc``.
IaF_ReadOut = counting(IaF, "IaF_ReadOut")

#: Pure accumulator for the membrane-potential read-out: integrates its input, never spikes.
#: Unlike the reference it has no lower bound, so v is exactly the summed input.
IaF_Acc = Neuron(
    parameters="bias = 0.0",
    equations="dv/dt = g_exc + bias : init=0.0",
    name="IaF_Acc",
)

#: Integrate-and-fire with reset by subtraction: the charge above threshold carries over, so the
#: spike rate tracks the input without the quantisation loss of a reset to zero (Rueckauer et al. 2017).
IF_subtract = Neuron(
    parameters="""
        vt = 1.0 : population
        v0 = 0.0
        bias = 0.0
    """,
    equations="dv/dt = g_exc + bias : init=v0",
    spike="v > vt",
    reset="v -= vt",
    name="IF_subtract",
)

#: Multi-spike integrate-and-fire (sinabs' MultiSpike; the burst spikes of Li & Zeng, IJCAI 2022): in a
#: step whose membrane holds n >= 1 thresholds it sends one event carrying n (its payload: projections
#: weight it by n) and subtracts n thresholds, so its rate is not capped at one spike per step. ``count``
#: sums the spikes sent (what calibration reads as its rate).
IF_multispike = Neuron(
    parameters="""
        vt = 1.0 : population
        v0 = 0.0
        bias = 0.0
    """,
    equations="""
        dv/dt = g_exc + bias : init=v0
        n = n : init=0.0
        count = count : init=0.0
    """,
    spike="v >= vt",
    reset="n = floor(v / vt); v -= n * vt; count += n",
    payload="n",
    payload_range=(1.0, float("inf")),
    name="IF_multispike",
)

#: Signed integrate-and-fire with memory (Wang et al., IJCAI 2022, "Signed Neuron with Memory"): reset by
#: subtraction, plus a negative spike (payload -1, one threshold given back) when the membrane falls
#: below 0 while the neuron has a positive net count. Its net count then follows the quantised ReLU of
#: its summed input whatever the order the input came in: a neuron that fired on early excitation
#: takes those spikes back when later inhibition outweighs it, which IF_subtract cannot. ``count`` is
#: the net count (what calibration reads as its rate).
IF_signed = Neuron(
    parameters="""
        vt = 1.0 : population
        v0 = 0.0
        bias = 0.0
    """,
    equations="""
        dv/dt = g_exc + bias : init=v0
        sign = sign : init=0.0
        count = count : init=0.0
    """,
    spike="v >= vt or (v < 0.0 and count > 0.0)",
    reset="sign = ite(v >= vt, 1.0, -1.0); v -= sign * vt; count += sign",
    payload="sign",
    payload_range=(-1.0, 1.0),
    name="IF_signed",
)

#: Output layer of IF_subtract networks for spike-count read-outs (counts its spikes in ``sc``).
IF_subtract_ReadOut = counting(IF_subtract, "IF_subtract_ReadOut")

#: Poisson input ("CPN"): spikes with probability rates*dt/1000 per step.
Poisson = Neuron(
    parameters="rates = 0.0",
    equations="p = Uniform(0.0, 1.0) * 1000.0 / dt",
    spike="p < rates",
    name="Poisson",
)

#: Izhikevich intrinsically bursting input ("IB"): the input current is ``rates``.
IB = Neuron(
    parameters="""
        a = 0.02 : population
        b = 0.2 : population
        c = -55.0 : population
        d = 4.0 : population
        v_thresh = 30.0 : population
        rates = 0.0
    """,
    equations="""
        dv/dt = 0.04 * v^2 + 5.0 * v + 140.0 - u + rates : init=-55.0
        du/dt = a * (b * v - u) : init=-13.0
    """,
    spike="v > v_thresh",
    reset="v = c; u += d",
    name="IB",
)

#: Phase-shift oscillation input ("PSO"): v follows the input, the threshold is
#: modulated by 2^-(1 + mod(t, k)).
PSO = Neuron(
    parameters="""
        k = 8.0 : population
        vt = 1.0 : population
        rates = 0.0
    """,
    equations="""
        phase = pow(2.0, -(1.0 + modulo(t, k)))
        v = rates
    """,
    spike="v > vt * phase",
    name="PSO",
)

#: Analog input ("constant"): the input value is sent, weighted, to the next layer every step.
Constant = Neuron(
    parameters="rates = 0.0",
    equations="r = rates",
    output="r",
    name="Constant",
)

# Time-to-first-spike coding (Stanojevic et al., Neural Networks 2023, "An exact mapping from ReLU
# networks to spiking neural networks"). Layer l owns the spiking window [t_open, t_close) and
# fires at most once in it: the earlier, the larger its activation. Before t_open it integrates a
# ramp, each input spike adding its weight to the slope, so that at t_open the membrane holds the
# weighted sum of the inputs' activations times the window; from t_open on it rises at slope 1 and
# crosses vt = window after (1 - activation) * window (see annsnn.conversion.ttfs).

#: TTFS input: pixel ``rates`` in [0, 1] spikes once at (1 - rates) * window, rounded to the grid.
TTFS_Input = Neuron(
    parameters="""
        rates = 0.0
        vt = 1.0 : population
        t_close = 0.0 : population
    """,
    equations="ts = ts : init=-1.0",
    spike="rates * vt + t + 0.5 * dt >= vt and ts < 0.0",
    reset="ts = t",
    active="t < t_close",
    name="TTFS_Input",
)

#: TTFS hidden or output neuron; it is updated only from ``t_begin`` (its earliest input window
#: opens) until its own window closes. ``slope`` sums the weights of the inputs that have spiked
#: (g_exc), ``g_jump`` moves the membrane at once (it cancels the longer ramp of inputs from an
#: earlier window, residual connections); ``ts`` is the time of its one spike (-1: none yet).
TTFS = Neuron(
    parameters="""
        vt = 1.0 : population
        t_begin = 0.0 : population
        t_open = 0.0 : population
        t_close = 0.0 : population
        v0 = 0.0
    """,
    equations="""
        slope = slope + g_exc : init=0.0
        v = v + dt * (slope if t < t_open else 1.0) + g_jump : init=v0
        ts = ts : init=-1.0
    """,
    spike="v >= vt and t > t_open and ts < 0.0",
    reset="ts = t",
    active="t > t_begin and t < t_close",
    name="TTFS",
)

#: TTFS max pooling: the earliest spike of the pooling window wins, passed on in the same step.
TTFS_Relay = Neuron(
    parameters="""
        t_begin = 0.0 : population
        t_close = 0.0 : population
    """,
    equations="ts = ts : init=-1.0",
    spike="g_exc > 0.0 and ts < 0.0",
    reset="ts = t",
    active="t > t_begin and t < t_close",
    name="TTFS_Relay",
)

# Event-driven TTFS (annsnn.conversion.ttfs, simulation="event"): each layer is updated once, in
# creation order within one step, and each spike carries ``lead``, how long before its window closes
# it falls (a multiple of ``grid``, the clock's dt). That is the integral its ramp current adds to a
# neuron of the next window by the time that window opens, so the membrane there is known at once and
# so is the step it would cross at. ``ts`` is the spike time the clock-driven models above give.

#: Event-driven TTFS input: a pixel ``rates`` in [0, 1] leads its window's close by round(rates * levels) steps.
TTFS_Event_Input = Neuron(
    parameters="""
        rates = 0.0
        levels = 128.0 : population
        grid = 1.0 : population
        t_close = 0.0 : population
    """,
    equations="""
        lead = min(levels, floor(rates * levels + 0.5)) * grid
        ts = ts : init=-1.0
    """,
    spike="lead > 0.0 and ts < 0.0",
    reset="ts = t_close - lead",
    name="TTFS_Event_Input",
)

#: Event-driven TTFS hidden or output neuron: ``v`` sums the bias charge ``v0`` and the leads of its
#: inputs' spikes times their weights (``g_exc``), which is the clock model's membrane when its window
#: opens; from there it rises by ``grid`` per step to ``levels * grid``, so it crosses 1 + floor(v / grid)
#: steps before the close, at once if v is above threshold, and not at all if v < 0.
TTFS_Event = Neuron(
    parameters="""
        levels = 128.0 : population
        grid = 1.0 : population
        t_close = 0.0 : population
        v0 = 0.0
    """,
    equations="""
        v = v + g_exc : init=v0
        lead = min(levels, 1.0 + floor(v / grid)) * grid
        ts = ts : init=-1.0
    """,
    spike="v >= 0.0 and ts < 0.0",
    reset="ts = t_close - lead",
    name="TTFS_Event",
)

#: Event-driven TTFS max pooling: the largest lead of the pooling window (its earliest spike) is passed on.
TTFS_Event_Relay = Neuron(
    parameters="t_close = 0.0 : population",
    equations="""
        lead = max(lead, g_exc) : init=0.0
        ts = ts : init=-1.0
    """,
    spike="lead > 0.0 and ts < 0.0",
    reset="ts = t_close - lead",
    name="TTFS_Event_Relay",
)

BUILTIN = {model.name: model for model in (IaF, IaF_ReadOut, IaF_Acc, IF_subtract, IF_subtract_ReadOut, IF_multispike,
                                           IF_signed, Poisson, IB, PSO, Constant, TTFS_Input, TTFS, TTFS_Relay,
                                           TTFS_Event_Input, TTFS_Event, TTFS_Event_Relay)}
