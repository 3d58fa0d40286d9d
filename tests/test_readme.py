"""The README's simulator example runs as written."""
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_izhikevich_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    example = next(b for b in blocks if "izhikevich = annsnn.Neuron(" in b)
    exec(compile(example, "README.md", "exec"), {})
    counts, shape = capsys.readouterr().out.split("] ")
    assert shape.strip() == "(2000, 4, 100)"
    per_item = [int(c) for c in counts.strip("[ ").split()]
    assert per_item[0] < per_item[-1], "more input current, more spikes"
