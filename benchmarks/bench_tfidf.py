"""TF-IDF on ArSarcasm-v2 sentiment: stancebench's CLI against a plain scikit-learn script.

Both do the identical fit and predict (word 1-2 + char_wb 2-5 hashed TF-IDF, LinearSVC C=0.5,
balanced class weights, 12,548 train / 3,000 test tweets).  The CLI also tracks the run in a fresh
MLflow store (params, metrics, bootstrap intervals, artifacts, the skops model).  Each side runs as
its own process, alternating, ``--repeats`` times; we report median whole-process wall time, peak
RSS (``wait4`` rusage of that process) and the scores, and check the predictions are identical.

    python benchmarks/bench_tfidf.py [--repeats 3] [--out benchmarks/results/tfidf.json]
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "arsarcasm-v2"
TARGET_RATIO = 1.5


def measure(command: list[str], cwd: Path, env: dict) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, stdout) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait4 gives this child's own rusage (ru_maxrss in KiB on Linux).
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tfidf.json")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    plain, cli = [], []
    with tempfile.TemporaryDirectory(prefix="bench-tfidf-") as tmp:
        tmp = Path(tmp)
        for i in range(args.repeats):
            out = tmp / f"plain-{i}.json"
            wall, rss, _ = measure([sys.executable, str(ROOT / "benchmarks" / "plain_tfidf.py"), str(DATA), str(out)],
                                   tmp, env)
            plain.append({"wall_s": wall, "peak_rss_mib": rss, **json.loads(out.read_text())})
            run_dir = tmp / f"cli-{i}"
            store = tmp / f"store-{i}"  # a fresh store each time: table creation is part of the cost
            wall, rss, stdout = measure(
                [sys.executable, "-m", "stancebench", "train", "experiment=arsarcasm_sentiment",
                 f"tracking.uri=sqlite:///{store}/mlflow.db", f"tracking.artifact_location={store}/mlruns",
                 f"output_dir={run_dir}", f"hydra.run.dir={run_dir}"],
                tmp, env)
            metrics = json.loads((run_dir / "run" / "metrics.json").read_text())
            predicted = [json.loads(line)["predicted"]
                         for line in (run_dir / "run" / "predictions.jsonl").read_text().splitlines()]
            cli.append({"wall_s": wall, "peak_rss_mib": rss,
                        "scores": {k: metrics[k] for k in ("macro_f1", "f1_pn")}, "predicted": predicted})
            shutil.rmtree(store, ignore_errors=True)
    identical = all(c["predicted"] == p["predicted"] for c, p in zip(cli, plain))
    summary = {
        "task": "ArSarcasm-v2 sentiment, 12,548 train / 3,000 test, word+char hashed TF-IDF + LinearSVC",
        "machine": f"{os.cpu_count()} cores (python {sys.version.split()[0]})",
        "repeats": args.repeats,
        "plain": {"median_wall_s": round(statistics.median(p["wall_s"] for p in plain), 2),
                  "peak_rss_mib": round(max(p["peak_rss_mib"] for p in plain)),
                  "scores": {k: round(v, 4) for k, v in plain[0]["scores"].items()}},
        "cli": {"median_wall_s": round(statistics.median(c["wall_s"] for c in cli), 2),
                "peak_rss_mib": round(max(c["peak_rss_mib"] for c in cli)),
                "scores": {k: round(v, 4) for k, v in cli[0]["scores"].items()}},
        "identical_predictions": identical,
    }
    summary["wall_ratio"] = round(summary["cli"]["median_wall_s"] / summary["plain"]["median_wall_s"], 2)
    summary["target_ratio"] = TARGET_RATIO
    summary["meets_target"] = summary["wall_ratio"] <= TARGET_RATIO
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
