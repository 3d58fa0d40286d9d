"""The errors the code generator raises, and the root of every annsnn error.

They live here so that the generator depends on nothing of the front end; ``annsnn.errors`` re-exports
them next to the front end's own classes.
"""


class AnnsnnError(Exception):
    """Base class of every error annsnn raises on purpose."""


class EquationError(AnnsnnError, ValueError):
    """A neuron description that cannot be parsed or is inconsistent.

    ``model`` is the neuron name, ``section`` the field (parameters, equations,
    spike, reset, ...), ``line`` the 1-based line in that field, ``text`` the
    offending statement and ``symbol`` the name at fault, when there is one.
    """

    def __init__(self, message, *, model=None, section=None, line=None, text=None, symbol=None):
        self.message = message
        self.model = model
        self.section = section
        self.line = line
        self.text = text
        self.symbol = symbol
        super().__init__(self._format())

    def _format(self):
        where = []
        if self.model:
            where.append(f"neuron '{self.model}'")
        if self.section:
            where.append(self.section if self.line is None else f"{self.section} line {self.line}")
        head = ", ".join(where)
        body = self.message
        if self.text is not None:
            body += f"\n    {self.text.strip()}"
        return f"{head}: {body}" if head else body

    def located(self, **where):
        """Return a copy with missing location fields filled in."""
        fields = dict(model=self.model, section=self.section, line=self.line,
                      text=self.text, symbol=self.symbol)
        for key, value in where.items():
            if fields.get(key) is None:
                fields[key] = value
        return EquationError(self.message, **fields)


class BuildError(AnnsnnError, RuntimeError):
    """Generating, compiling or importing the C++ extension failed.

    ``source_dir`` keeps the generated sources for inspection; ``output`` holds
    the tail of the compiler's messages.
    """

    def __init__(self, message, *, source_dir=None, output=None):
        self.source_dir = source_dir
        self.output = output
        text = message
        if source_dir:
            text += f"\n  generated sources kept in: {source_dir}"
        if output:
            text += "\n  compiler output (tail):\n" + "\n".join("    " + l for l in output.splitlines())
        super().__init__(text)


class ToolchainError(BuildError):
    """A build tool (C++ compiler, Cython) is missing; the message says what to install."""
