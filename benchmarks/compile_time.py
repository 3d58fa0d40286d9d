"""Cold and warm compile time of a 3-population network (IB input → IaF hidden → IaF read-out).

Cold: an empty cache directory. Warm: a new process, same network (cache hit).
Each measurement runs in its own process, as a user's script would.
Writes benchmarks/results/compile_time.json.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import time, sys
started = time.perf_counter()
import annsnn
from annsnn import models
imported = time.perf_counter()
net = annsnn.Network(batch_size=8, seed=1)
a = net.create(784, models.IB, name="input")
b = net.create(128, models.IaF, name="hidden")
c = net.create(10, models.IaF_ReadOut, name="out")
net.connect(a, b, "exc", 0.01)
net.connect(b, c, "exc", 0.1)
info = net.compile()
print(info.compiled, info.seconds, imported - started)
"""


def measure(cache_dir):
    env = dict(os.environ, ANNSNN_CACHE_DIR=cache_dir)
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, check=True)
    compiled, seconds, import_seconds = out.stdout.split()
    return dict(compiled=compiled == "True", compile_seconds=float(seconds), import_seconds=float(import_seconds),
                process_seconds=time.perf_counter() - started)


def main(repeats=3):
    rows = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            cold = measure(cache)
            warm = measure(cache)
        assert cold["compiled"] and not warm["compiled"]
        rows.append((cold, warm))
    result = {
        "network": "IB(784) -> IaF(128) -> IaF_ReadOut(10), 2 dense projections",
        "cold_seconds": [r[0]["compile_seconds"] for r in rows],
        "warm_seconds": [r[1]["compile_seconds"] for r in rows],
        "import_annsnn_seconds": [r[1]["import_seconds"] for r in rows],
    }
    result["cold_median"] = sorted(result["cold_seconds"])[len(rows) // 2]
    result["warm_median"] = sorted(result["warm_seconds"])[len(rows) // 2]
    print("| case | median (s) | all runs (s) |")
    print("|---|---|---|")
    print(f"| cold compile (empty cache) | {result['cold_median']:.3f} | "
          + ", ".join(f"{s:.3f}" for s in result["cold_seconds"]) + " |")
    print(f"| warm compile (cache hit, new process) | {result['warm_median']:.3f} | "
          + ", ".join(f"{s:.3f}" for s in result["warm_seconds"]) + " |")
    out = Path(__file__).parent / "results" / "compile_time.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
