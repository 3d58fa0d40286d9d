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


def test_readme_coba_example_runs_at_the_papers_rate(capsys):
    """The README's COBA script as written: 1 s of the Vogels & Abbott network fires in the regime the
    published simulators report (Brian2 and ANNarchy: about 20 Hz)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    example = next(b for b in blocks if "COBA = annsnn.Neuron(" in b)
    equations = example.split('equations="""')[1].split('"""')[0]
    derivatives_removed = re.sub(r"\bd\w+\s*/\s*dt\b", "", equations)
    assert not re.search(r"\bdt\b|ite\(", derivatives_removed), "no /dt tricks or countdowns in the model"
    exec(compile(example, "README.md", "exec"), {})
    rate = float(capsys.readouterr().out.split()[0])
    assert 15.0 < rate < 30.0
