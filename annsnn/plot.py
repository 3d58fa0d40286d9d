"""Plotting helpers (matplotlib, Agg backend; install with ``pip install 'annsnn[plot]'``)."""
import numpy as np

from .errors import AnnsnnError


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise AnnsnnError("plots need matplotlib: pip install 'annsnn[plot]'") from None
    return plt


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return str(path)


def accuracy_curve(curve, path, ann_accuracy=None, title="Accuracy against simulation time"):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    steps = np.arange(1, len(curve) + 1)
    ax.plot(steps, 100 * np.asarray(curve), label="SNN")
    if ann_accuracy is not None:
        ax.axhline(100 * ann_accuracy, color="k", linestyle="--", label=f"ANN ({100 * ann_accuracy:.2f} %)")
    ax.set_xlabel("read-out step (steps of dt)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 102)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def confusion_matrix(labels, predictions, path, classes=None):
    plt = _pyplot()
    classes = classes or int(max(np.max(labels), np.max(predictions)) + 1)
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    image = ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", fontsize=7,
                color="white" if value > matrix.max() / 2 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_xticks(range(classes))
    ax.set_yticks(range(classes))
    ax.set_title("Confusion matrix (SNN)")
    fig.colorbar(image, ax=ax, label="samples")
    _save(fig, path)
    return matrix


def rate_histograms(rates, path):
    """``rates``: {layer name: per-neuron firing rates in spikes per step}."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(rates), figsize=(3 * len(rates), 3), squeeze=False)
    for ax, (name, values) in zip(axes[0], rates.items()):
        ax.hist(np.asarray(values).ravel(), bins=30, color="tab:blue")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("rate (spikes/step)")
        ax.set_yscale("log")
    axes[0][0].set_ylabel("neurons x samples")
    fig.suptitle("Firing-rate distribution per layer")
    return _save(fig, path)


def raster_and_trace(spike_times, trace, path, trace_label="membrane potential v"):
    """``spike_times``: {layer: (steps, neuron ids)}; ``trace``: (steps,) values of one neuron, or None
    (the raster alone)."""
    plt = _pyplot()
    if trace is None:
        fig, top = plt.subplots(1, 1, figsize=(7, 4.5))
    else:
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True,
                                          gridspec_kw=dict(height_ratios=[3, 1]))
    offset = 0
    for index, (name, (steps, neurons, size)) in enumerate(spike_times.items()):
        top.scatter(steps, np.asarray(neurons) + offset, s=1, color=f"C{index}", label=name)
        offset += size
    top.set_ylabel("neuron (layers stacked)")
    top.set_title("Spike raster of one sample")
    top.legend(loc="upper right", fontsize=7, markerscale=6)
    if trace is None:
        top.set_xlabel("step")
        return _save(fig, path)
    bottom.plot(np.arange(len(trace)), trace, color="tab:red")
    bottom.set_xlabel("step")
    bottom.set_ylabel(trace_label)
    return _save(fig, path)


def activation_vs_rate(pairs, path):
    """``pairs``: {layer: (ANN activations, SNN rates)} of the same neurons and samples."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.2 * len(pairs), 3.2), squeeze=False)
    for ax, (name, (ann, snn)) in zip(axes[0], pairs.items()):
        ann, snn = np.asarray(ann).ravel(), np.asarray(snn).ravel()
        ax.scatter(ann, snn, s=2, alpha=0.3)
        r = np.corrcoef(ann, snn)[0, 1] if ann.std() > 0 and snn.std() > 0 else float("nan")
        ax.set_title(f"{name} (r = {r:.3f})", fontsize=9)
        ax.set_xlabel("ANN activation")
    axes[0][0].set_ylabel("SNN rate (spikes/step)")
    fig.suptitle("ANN activation against SNN rate")
    return _save(fig, path)
