"""TF-IDF on ArSarcasm-v2 sentiment: stancebench's CLI against a plain scikit-learn script.

Both do the identical fit and predict (word 1-2 + char_wb 2-5 hashed TF-IDF, LinearSVC C=0.5,
balanced class weights, 12,548 train / 3,000 test tweets).  The CLI also tracks the run in a fresh
MLflow store (params, metrics, bootstrap intervals, artifacts, the skops model); it runs twice per
round, as configured by default (the fit in a forked process, overlapping the MLflow set-up) and
with ``fit_in_subprocess=false`` (everything in one process).  Each command runs as its own
process, in turns, ``--repeats`` rounds; we report median whole-process wall time, CPU time
(user + sys, children included), peak memory (the summed RSS of the process and its children,
sampled every 20 ms, and the largest single process's peak from ``wait4``), the scores, and check
that the predictions are identical.

    python benchmarks/bench_tfidf.py [--repeats 3] [--out benchmarks/results/tfidf.json] [--cpus N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "arsarcasm-v2"
TARGET_RATIO = 1.5


def _tree_rss_sampler(pid: int, peak: list[float], done: threading.Event) -> None:
    """Keep ``peak[0]`` at the largest summed RSS (MiB) of ``pid`` and its descendants seen so far."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    while not done.wait(0.02):
        total = 0
        try:
            for proc in [root, *root.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            return
        peak[0] = max(peak[0], total / 2**20)


def measure(command: list[str], cwd: Path, env: dict, cpus: set[int] | None = None) -> dict:
    """Wall and CPU seconds, peak memory and stdout of one child process (and its children).

    ``cpus``: the CPUs the child may run on (as ``taskset``), None for all of this process's.
    """
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err, text=True, preexec_fn=pin)
        peak, done = [0.0], threading.Event()
        sampler = threading.Thread(target=_tree_rss_sampler, args=(proc.pid, peak, done), daemon=True)
        sampler.start()
        # wait4: this child's own rusage, which includes its reaped children (ru_maxrss, in KiB on
        # Linux, is then the largest single process's peak).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed ({os.waitstatus_to_exitcode(status)}):\n{stderr[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mib": usage.ru_maxrss / 1024,
            "peak_tree_rss_mib": peak[0], "stdout": stdout}


def _summary(rows: list[dict]) -> dict:
    return {"median_wall_s": round(statistics.median(r["wall_s"] for r in rows), 2),
            "walls_s": [round(r["wall_s"], 2) for r in rows],
            "median_cpu_s": round(statistics.median(r["cpu_s"] for r in rows), 2),
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in rows)),
            "peak_tree_rss_mib": round(max(r["peak_tree_rss_mib"] for r in rows)),
            "scores": {k: round(v, 4) for k, v in rows[0]["scores"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tfidf.json")
    parser.add_argument("--cpus", type=int, default=None,
                        help="pin every command to this many CPUs (1: what fit_in_subprocess=auto avoids)")
    args = parser.parse_args()
    cpus = set(sorted(os.sched_getaffinity(0))[:args.cpus]) if args.cpus else None
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # The default (fit_in_subprocess=auto: a forked fit on 2+ CPUs), and everything in one process;
    # on one CPU auto fits in-process, so the forked fit is measured there explicitly.
    variants = {"cli": [], "cli_in_process": ["fit_in_subprocess=false"]}
    if args.cpus == 1:
        variants["cli_forked"] = ["fit_in_subprocess=true"]
    plain, cli = [], {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="bench-tfidf-") as tmp:
        tmp = Path(tmp)
        for i in range(args.repeats):
            out = tmp / f"plain-{i}.json"
            row = measure([sys.executable, str(ROOT / "benchmarks" / "plain_tfidf.py"), str(DATA), str(out)], tmp, env,
                          cpus)
            plain.append({**row, **json.loads(out.read_text())})
            for name, extra in variants.items():
                run_dir = tmp / f"{name}-{i}"
                store = tmp / f"store-{name}-{i}"  # a fresh store each time: table creation is part of the cost
                row = measure(
                    [sys.executable, "-m", "stancebench", "train", "experiment=arsarcasm_sentiment",
                     f"tracking.uri=sqlite:///{store}/mlflow.db", f"tracking.artifact_location={store}/mlruns",
                     f"output_dir={run_dir}", f"hydra.run.dir={run_dir}", *extra],
                    tmp, env, cpus)
                metrics = json.loads((run_dir / "run" / "metrics.json").read_text())
                predicted = [json.loads(line)["predicted"]
                             for line in (run_dir / "run" / "predictions.jsonl").read_text().splitlines()]
                cli[name].append({**row, "scores": {k: metrics[k] for k in ("macro_f1", "f1_pn")},
                                  "predicted": predicted})
                shutil.rmtree(store, ignore_errors=True)
    identical = all(c["predicted"] == p["predicted"] for rows in cli.values() for c, p in zip(rows, plain))
    summary = {
        "task": "ArSarcasm-v2 sentiment, 12,548 train / 3,000 test, word+char hashed TF-IDF + LinearSVC",
        "machine": f"{os.cpu_count()} cores (python {sys.version.split()[0]})",
        "cpus_used": len(cpus) if cpus else len(os.sched_getaffinity(0)),
        "repeats": args.repeats,
        "plain": _summary(plain),
        **{name: _summary(rows) for name, rows in cli.items()},
        "identical_predictions": identical,
    }
    for name in variants:
        summary[name]["wall_ratio"] = round(summary[name]["median_wall_s"] / summary["plain"]["median_wall_s"], 2)
    summary["target_ratio"] = TARGET_RATIO
    summary["meets_target"] = summary["cli"]["wall_ratio"] <= TARGET_RATIO
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
