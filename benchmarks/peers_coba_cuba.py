"""COBA and CUBA benchmarks of Brette et al. (2007): annsnn side by side with Brian2 (C++ standalone) and ANNarchy 5.

    python benchmarks/peers_coba_cuba.py                      # all three, both models, N = 4,000 and 40,000, threads 1 2
    python benchmarks/peers_coba_cuba.py --simulators brian2 annarchy --seeds 1 --out benchmarks/results/x.json
    python benchmarks/peers_coba_cuba.py --models coba --sizes 4000 --threads 1 --dense-40k

The peers are installed on first use from PyPI into their own virtual environments (benchmarks/.peers/brian2,
benchmarks/.peers/annarchy; ignored by git, never used by CI). Every (simulator, model, N, p, threads, seed)
runs in a subprocess of its own, in the peer's environment, so that a crash stays there and its peak RSS is
its own. The network: N neurons, the first 80 % excitatory, the rest inhibitory; each neuron receives from
each pre neuron with probability p (p = 0.02 at N = 4,000, 0.002 at 40,000: 80 synapses in on average;
--dense-40k adds p = 0.02 at 40,000), no self-connections, the minimum delay; dt = 0.1 ms, 1 s simulated.
Figures per run: build_s (model definition to ready-to-run, code generation and compilation included),
simulate_s (wall time of the 1 s), realtime_factor, mean_rate_hz, isi_cv (mean over neurons with >= 3 spikes
of std/mean of the ISIs), peak_rss_mb, n_synapses, threads, method. annsnn's side is benchmarks/coba.py and
cuba.py, built with an empty build cache so that its build_s includes generating and compiling its C++; annsnn
runs one network on one thread (its threads work on batch items), so its 2-thread rows equal its 1-thread ones.
Runs get OMP_WAIT_POLICY=PASSIVE unless told otherwise (--omp-wait-policy): with OpenMP's default spinning,
a 2-thread run on a shared 2-core machine loses a scheduler slice at every barrier. Each row also records
the 1-minute load average before and after it.
"""
import argparse
from importlib import metadata
import json
import re
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "benchmarks" / ".peers"
RESULTS = ROOT / "benchmarks" / "results" / "coba_cuba.json"
MODELS = ("coba", "cuba")
SIZES = (4000, 40000)
DT_MS, DURATION_S, REFRACTORY_MS, EXC_FRACTION = 0.1, 1.0, 5.0, 0.8
SIMULATORS = ("brian2", "annarchy", "annsnn")
#: pip requirements of each peer's environment. Brian2 2.9.0 (the newest on PyPI here) still binds
#: np.ndarray.ptp, which NumPy 2.4 removed: hence the cap.
PEER_PACKAGES = {"brian2": ["brian2", "numpy<2.4"], "annarchy": ["ANNarchy==5.0.4.1"]}
# Parameters (mV, ms, dimensionless conductances), as in ANNarchy's COBA example / Brian2's CUBA example.
COBA = dict(El=-60.0, Vr=-60.0, Erev_exc=0.0, Erev_inh=-80.0, Vt=-50.0, tau=20.0, tau_exc=5.0, tau_inh=10.0,
            I=20.0, w_exc=0.6, w_inh=6.7)
CUBA = dict(El=-49.0, Vr=-60.0, Vt=-50.0, tau=20.0, tau_exc=5.0, tau_inh=10.0, w_exc=1.62, w_inh=-9.0)


def default_p(n):
    """80 synapses in on average: 0.02 at N = 4,000, 0.002 at 40,000."""
    return round(80.0 / n, 9)


def spike_stats(index, times_s, n):
    """Mean rate (Hz) and mean ISI CV over neurons with >= 3 spikes, from flat spike arrays."""
    import numpy as np
    index, times_s = np.asarray(index, dtype=np.int64), np.asarray(times_s, dtype=float)
    order = np.lexsort((times_s, index))
    index, times_s = index[order], times_s[order]
    cvs = []
    bounds = np.flatnonzero(np.diff(index)) + 1
    for train in np.split(times_s, bounds):
        if train.size >= 3:
            isi = np.diff(train)
            cvs.append(isi.std() / isi.mean() if isi.mean() > 0 else 0.0)
    return dict(n_spikes=int(index.size), mean_rate_hz=index.size / n / DURATION_S,
                isi_cv=float(np.mean(cvs)) if cvs else float("nan"), neurons_with_3_spikes=len(cvs))


# ---------------------------------------------------------------- workers (run inside a peer's environment)

_RSS_WRAP = ("import resource,subprocess,sys; r=subprocess.call(sys.argv[1:]); open('binary_rss_kb','w')"
             ".write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); sys.exit(r)")


def run_brian2(model, n, p, threads, seed, workdir):
    import brian2 as b2
    from brian2 import ms, mV
    chosen = []

    class Choice:  # Brian2 reports its pick of integration method on this logger, at debug level
        level = 0

        def handle(self, record):
            chosen.append(record.getMessage())

    import logging
    logging.getLogger("brian2.stateupdaters.base.method_choice").addHandler(Choice())
    started = time.perf_counter()
    b2.set_device("cpp_standalone", directory=workdir, build_on_run=False)
    # threads == 1: the plain serial build (openmp_threads = 0); otherwise OpenMP with that many threads
    b2.prefs.devices.cpp_standalone.openmp_threads = 0 if threads == 1 else threads
    # the binary is started through a small Python wrapper that records its peak RSS
    b2.prefs.devices.cpp_standalone.run_cmd_unix = [sys.executable, "-c", _RSS_WRAP, "./main"]
    b2.defaultclock.dt = DT_MS * ms
    b2.seed(seed)
    n_exc = int(EXC_FRACTION * n)
    if model == "coba":
        q = dict(COBA, El=COBA["El"] * mV, Vr=COBA["Vr"] * mV, Erev_exc=COBA["Erev_exc"] * mV, Vt=COBA["Vt"] * mV,
                 Erev_inh=COBA["Erev_inh"] * mV, tau=COBA["tau"] * ms, tau_exc=COBA["tau_exc"] * ms,
                 tau_inh=COBA["tau_inh"] * ms, I=COBA["I"] * mV)
        eqs = """dv/dt = ((El - v) + g_exc*(Erev_exc - v) + g_inh*(Erev_inh - v) + I)/tau : volt (unless refractory)
                 dg_exc/dt = -g_exc/tau_exc : 1
                 dg_inh/dt = -g_inh/tau_inh : 1"""
    else:
        q = dict(CUBA, El=CUBA["El"] * mV, Vr=CUBA["Vr"] * mV, Vt=CUBA["Vt"] * mV, tau=CUBA["tau"] * ms,
                 tau_exc=CUBA["tau_exc"] * ms, tau_inh=CUBA["tau_inh"] * ms, w_exc=CUBA["w_exc"] * mV,
                 w_inh=CUBA["w_inh"] * mV)
        eqs = """dv/dt = ((El - v) + g_exc + g_inh)/tau : volt (unless refractory)
                 dg_exc/dt = -g_exc/tau_exc : volt
                 dg_inh/dt = -g_inh/tau_inh : volt"""
    P = b2.NeuronGroup(n, eqs, threshold="v > Vt", reset="v = Vr", refractory=REFRACTORY_MS * ms,
                       method=("exact", "exponential_euler"), namespace=q, name="P")
    if model == "coba":
        P.v = "-55*mV + 5*mV*randn()"
        P.g_exc = "4 + 1.5*randn()"
        P.g_inh = "20 + 12*randn()"
    else:
        P.v = "-60*mV + 10*mV*rand()"
    Ce = b2.Synapses(P, P, on_pre="g_exc += w_exc", namespace=q, name="Ce")
    Ce.connect(condition=f"i < {n_exc} and i != j", p=p)
    Ci = b2.Synapses(P, P, on_pre="g_inh += w_inh", namespace=q, name="Ci")
    Ci.connect(condition=f"i >= {n_exc} and i != j", p=p)
    mon = b2.SpikeMonitor(P, name="spikes")
    b2.run(DURATION_S * b2.second)
    b2.device.build(directory=workdir, compile=True, run=False)
    generated_compiled = time.perf_counter() - started
    before = time.perf_counter()
    b2.device.run(directory=workdir, with_output=False)
    binary = time.perf_counter() - before
    simulate = b2.device._last_run_time  # the network's run loop, timed inside the binary
    out = dict(build_s=generated_compiled + binary - simulate, simulate_s=simulate, codegen_compile_s=generated_compiled,
               binary_wall_s=binary, n_synapses=int(len(Ce) + len(Ci)), openmp_threads=b2.prefs.devices.cpp_standalone.openmp_threads,
               binary_rss_mb=int(Path(workdir, "binary_rss_kb").read_text()) / 1024, version=b2.__version__,
               method=",".join(sorted(set(re.findall(r"using (?:numerical integration )?method '?(\w+)", " ".join(chosen)))))
               or "?")
    out.update(spike_stats(mon.i[:], mon.t[:] / b2.second, n))
    return out


def run_annarchy(model, n, p, threads, seed, workdir, method="exponential"):
    import ANNarchy as ann
    started = time.perf_counter()
    flag = f" : {method}"
    if model == "coba":
        q = COBA
        eq_v = "tau * dv/dt = (El - v) + g_exc * (Erev_exc - v) + g_inh * (Erev_inh - v) + I"
        names = ("El", "Vr", "Erev_exc", "Erev_inh", "Vt", "tau", "tau_exc", "tau_inh", "I")
    else:
        q = CUBA
        eq_v = "tau * dv/dt = (El - v) + g_exc + g_inh"
        names = ("El", "Vr", "Vt", "tau", "tau_exc", "tau_inh")
    neuron = ann.Neuron(
        parameters="\n".join(f"{k} = {q[k]} : population" for k in names),
        equations=f"{eq_v}{flag}\ntau_exc * dg_exc/dt = - g_exc{flag}\ntau_inh * dg_inh/dt = - g_inh{flag}",
        spike="v > Vt", reset="v = Vr", refractory=REFRACTORY_MS)
    net = ann.Network(dt=DT_MS, seed=seed)
    net.config(num_threads=threads)
    P = net.create(n, neuron=neuron)
    n_exc = int(EXC_FRACTION * n)
    rng = net.default_rng  # ANNarchy's distributions are unseeded unless given a generator
    if model == "coba":
        P.v = ann.Normal(-55.0, 5.0, rng=rng)
        P.g_exc = ann.Normal(4.0, 1.5, rng=rng)
        P.g_inh = ann.Normal(20.0, 12.0, rng=rng)
    else:
        P.v = ann.Uniform(-60.0, -50.0, rng=rng)
    projections = []
    for pre, target, w in ((P[:n_exc], "exc", q["w_exc"]), (P[n_exc:], "inh", q["w_inh"])):
        proj = net.connect(pre=pre, post=P, target=target)
        proj.fixed_probability(probability=p, weights=w)
        # ANNarchy allows self-connections whenever pre is not post (a view of P is not P); its pattern
        # drops pre rank == post rank (ranks in P) when told not to
        args = list(proj._connection_args)
        args[3] = False
        proj._connection_args = tuple(args)
        projections.append(proj)
    mon = net.monitor(P, ["spike"])
    net.compile(directory=workdir, silent=True)
    build = time.perf_counter() - started
    before = time.perf_counter()
    net.simulate(DURATION_S * 1000.0)
    simulate = time.perf_counter() - before
    spikes = mon.get("spike")
    index = [i for i, steps in spikes.items() for _ in steps]
    times = [s * DT_MS / 1000.0 for i, steps in spikes.items() for s in steps]
    out = dict(build_s=build, simulate_s=simulate, n_synapses=int(sum(pr.nb_synapses for pr in projections)),
               version=metadata.version("ANNarchy"), method=method)
    out.update(spike_stats(index, times, n))
    return out


def run_annsnn(model, n, p, threads, seed, workdir):
    """annsnn's side: the network of benchmarks/coba.py or cuba.py, built with an empty build cache (so
    build_s includes generating and compiling its C++, as the peers' do)."""
    os.environ["ANNSNN_CACHE_DIR"] = str(Path(workdir) / "annsnn-cache")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import importlib
    module = importlib.import_module(model)
    out = module.run(module.build, n, p, seed, threads, duration_ms=DURATION_S * 1000.0)
    out["version"] = metadata.version("annsnn")
    return out


def worker(args):
    sys.argv = sys.argv[:1]  # ANNarchy parses the command line when imported
    workdir = tempfile.mkdtemp(prefix=f"{args.simulator}_{args.model}_{args.n}_", dir=args.workdir)
    common = (args.model, args.n, args.p, args.threads, args.seed)
    if args.simulator == "brian2":
        out = run_brian2(*common, workdir)
    elif args.simulator == "annarchy":
        out = run_annarchy(*common, workdir, method=args.annarchy_method)
    else:
        out = run_annsnn(*common, workdir)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.update(threads=args.threads, realtime_factor=out["simulate_s"] / DURATION_S, python_rss_mb=own,
               peak_rss_mb=max(own, out.get("binary_rss_mb", 0.0)),  # the process(es) holding the network
               children_rss_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)  # compiler too
    Path(args.result).write_text(json.dumps(out))


# ---------------------------------------------------------------- the driver

def peer_python(simulator, install=True):
    if simulator == "annsnn":
        return Path(sys.executable)
    env = PEERS / simulator
    python = env / "bin" / "python"
    if not python.exists():
        if not install:
            raise SystemExit(f"{env} is missing: run without --no-install")
        print(f"installing {' '.join(PEER_PACKAGES[simulator])} into {env} (from PyPI)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES[simulator]], check=True)
    return python


def run_job(simulator, model, n, p, threads, seed, args):
    python = peer_python(simulator, install=not args.no_install)
    with tempfile.TemporaryDirectory(prefix="coba_cuba_") as work:
        result = Path(work) / "result.json"
        # ANNarchy's CMake build asks the python3 on PATH for nanobind: the peer's environment comes first
        env = dict(os.environ, PATH=f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
                   VIRTUAL_ENV=str(python.parent.parent), OMP_NUM_THREADS=str(threads))
        if args.omp_wait_policy != "unset":
            env["OMP_WAIT_POLICY"] = args.omp_wait_policy
        cmd = [str(python), str(Path(__file__).resolve()), "--worker", simulator, "--model", model, "--n", str(n),
               "--p", str(p), "--thread", str(threads), "--seed", str(seed), "--result", str(result),
               "--workdir", work, "--annarchy-method", args.annarchy_method]
        started, load_before = time.perf_counter(), os.getloadavg()[0]
        try:
            proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=args.timeout)
            failure = None if proc.returncode == 0 and result.exists() else \
                f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-1500:]}"
        except subprocess.TimeoutExpired:
            failure = f"timed out after {args.timeout} s"
        row = dict(simulator=simulator, model=model, n=n, p=p, threads=threads, seed=seed,
                   job_wall_s=round(time.perf_counter() - started, 2), omp_wait_policy=args.omp_wait_policy,
                   loadavg_1min=(load_before, os.getloadavg()[0]))  # the machine may be shared
        if failure:
            row["error"] = failure
        else:
            row.update(json.loads(result.read_text()))
    return row


def medians(rows):
    groups = {}
    for r in rows:
        if "error" not in r:
            groups.setdefault((r["simulator"], r["threads"], r["model"], r["n"], r["p"]), []).append(r)
    out = []
    for (sim, threads, model, n, p), rs in groups.items():
        m = dict(simulator=sim, threads=threads, model=model, n=n, p=p, seeds=[r["seed"] for r in rs],
                 method=rs[0].get("method"), n_synapses=int(statistics.median(r["n_synapses"] for r in rs)))
        for key in ("build_s", "simulate_s", "realtime_factor", "mean_rate_hz", "isi_cv", "peak_rss_mb"):
            m[key] = statistics.median(r[key] for r in rs)
        out.append(m)
    return out


def table(rows):
    lines = ["| simulator | threads | model | N | p | synapses | build s | simulate s | rate Hz | ISI CV | RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['simulator']} | {r['threads']} | {r['model']} | {r['n']} | {r['p']} | "
                         f"failed: {r['error'].splitlines()[-1][:80] if r['error'] else ''} |")
            continue
        lines.append(f"| {r['simulator']} | {r['threads']} | {r['model']} | {r['n']} | {r['p']} | {r['n_synapses']} | "
                     f"{r['build_s']:.2f} | {r['simulate_s']:.3f} | {r['mean_rate_hz']:.2f} | {r['isi_cv']:.3f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--dense-40k", action="store_true", help="also run N = 40,000 at p = 0.02")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--simulators", nargs="+", default=list(SIMULATORS), choices=SIMULATORS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--annarchy-method", default="exponential", help="ANNarchy's ODE flag (its default: explicit)")
    parser.add_argument("--omp-wait-policy", choices=("PASSIVE", "ACTIVE", "unset"), default="PASSIVE",
                        help="OMP_WAIT_POLICY of the runs; 'unset': the OpenMP runtime's default (spinning), which on "
                             "a busy 2-core machine makes 2-thread runs 30-100x slower")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per job")
    parser.add_argument("--no-install", action="store_true", help="fail instead of installing a missing peer")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--worker", choices=SIMULATORS, help=argparse.SUPPRESS)
    for name, kind in (("model", str), ("n", int), ("p", float), ("thread", int), ("seed", int), ("result", str),
                       ("workdir", str)):
        parser.add_argument(f"--{name}", type=kind, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.simulator, args.threads = args.worker, args.thread
        return worker(args)

    cases = [(model, n, default_p(n)) for model in args.models for n in args.sizes]
    if args.dense_40k:
        cases += [(model, 40000, 0.02) for model in args.models]
    out, rows, started = Path(args.out), [], time.perf_counter()
    for model, n, p in cases:
        for simulator in args.simulators:
            for threads in args.threads:
                for seed in args.seeds:
                    row = run_job(simulator, model, n, p, threads, seed, args)
                    rows.append(row)
                    print(table([row]).splitlines()[-1], flush=True)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_text(json.dumps(dict(dt_ms=DT_MS, duration_s=DURATION_S, nproc=os.cpu_count(),
                                                   seconds=round(time.perf_counter() - started, 1),
                                                   rows=rows, medians=medians(rows)), indent=1))
    print("\nPer seed:\n" + table(rows))
    print(f"\nMedians over seeds {args.seeds}:\n" + table(medians(rows)))
    return rows


if __name__ == "__main__":
    main()
