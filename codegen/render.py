"""Jinja2 environment (StrictUndefined) and rendering of a network's sources."""
import functools
from importlib import resources

import jinja2

ITEM_PAD = 16  # int32 per-item counters, one 64-byte line apart
RECORD_FIELDS = ("kind", "n_source", "n_columns", "period", "first", "last", "source", "counts", "columns", "dest")


def templates_dir():
    """The installed ``annsnn.templates`` package (the repository's ``templates/``)."""
    return str(resources.files("annsnn.templates"))


@functools.lru_cache(maxsize=1)
def environment():
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_network(context):
    """Render ``network.hpp`` and the Cython module for one network.

    ``context`` holds: version, network_name, buffers (name/ctype), kernels
    (NeuronKernel), populations (name/neuron), projections.
    """
    context = dict(context, record_fields=RECORD_FIELDS, item_pad=ITEM_PAD)
    env = environment()
    return {
        "network.hpp": env.get_template("network.hpp.j2").render(**context),
        "module.pyx": env.get_template("module.pyx.j2").render(**context),
    }
