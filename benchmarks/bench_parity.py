"""Quality parity of the fast fine-tuning defaults against a plain fp32 full fine-tune.

e5_small, ArSarcasm-v2 sentiment, a 2,000-tweet training subsample (``max_train_samples``, seed 0),
2 epochs, scored on all 3,000 test tweets.  Two runs through ``python -m stancebench train``, the
same in everything but the speed switches:

* fast: the configured defaults (``precision=auto`` -> bf16 autocast on this CPU, word embeddings
  frozen, length-grouped batches, no attention dropout, the eager attention kernel);
* plain: ``precision=fp32 freeze_word_embeddings=false group_by_length=false attention_dropout=null
  attention=sdpa`` (the checkpoint's attention dropout, 0.1, and the library's default kernel).

Writes ``results/parity.json``: each run's f1_pn and macro-F1 with their 95 % bootstrap intervals,
training samples/s, and a paired bootstrap of the f1_pn difference on the same test tweets.
Target: fast f1_pn no more than 0.02 below plain.

    python benchmarks/bench_parity.py [--train 2000] [--epochs 2] [--out benchmarks/results/parity.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "fast": [],
    "plain": ["model.params.precision=fp32", "model.params.freeze_word_embeddings=false",
              "model.params.group_by_length=false", "model.params.attention_dropout=null",
              "model.params.attention=sdpa"],
}


def train(store: Path, name: str, extra: list[str], n_train: int, epochs: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    command = [sys.executable, "-m", "stancebench", "train", "experiment=arsarcasm_sentiment", "model=e5_small",
               f"max_train_samples={n_train}", f"model.params.epochs={epochs}", "seed=0",
               f"tracking.uri=sqlite:///{store / 'mlflow.db'}", f"tracking.artifact_location={store / 'mlruns'}",
               "tracking.experiment=parity", "tracking.log_model=false", f"output_dir={store / name}",
               f"run_name=parity-{name}", *extra]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    metrics = json.loads((store / name / "run" / "metrics.json").read_text())
    rows = [json.loads(line) for line in (store / name / "run" / "predictions.jsonl").read_text().splitlines()]
    return {"overrides": extra, "wall_s": round(time.perf_counter() - start, 1),
            "metrics": {k: metrics[k] for k in ("f1_pn", "f1_pn_ci_low", "f1_pn_ci_high", "macro_f1",
                                                "macro_f1_ci_low", "macro_f1_ci_high", "accuracy", "n_eval",
                                                "train_samples_per_second")},
            "gold": [r["gold"] for r in rows], "predicted": [r["predicted"] for r in rows]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "parity.json")
    args = parser.parse_args()
    from stancebench.experiment.scoring import paired_bootstrap

    with tempfile.TemporaryDirectory(prefix="stancebench-parity-") as tmp:
        runs = {name: train(Path(tmp), name, extra, args.train, args.epochs) for name, extra in SETTINGS.items()}
    fast, plain = runs["fast"], runs["plain"]
    assert fast["gold"] == plain["gold"]
    labels = ["positive", "negative", "neutral"]
    # runs_a / runs_b: one run (seed) each.
    test = paired_bootstrap(fast["gold"], [fast["predicted"]], [plain["predicted"]], labels, "sentiment", "f1_pn",
                            n_resamples=2000, seed=0)
    difference = fast["metrics"]["f1_pn"] - plain["metrics"]["f1_pn"]
    result = {
        "setting": {"model": "e5_small", "data": "arsarcasm-v2", "train_tweets": args.train, "epochs": args.epochs,
                    "test_tweets": len(fast["gold"]), "seed": 0},
        "runs": {name: {k: v for k, v in run.items() if k not in ("gold", "predicted")} for name, run in runs.items()},
        "f1_pn_difference_fast_minus_plain": round(difference, 4),
        "paired_bootstrap": test,
        "speedup_train_samples_per_second": round(fast["metrics"]["train_samples_per_second"]
                                                  / plain["metrics"]["train_samples_per_second"], 2),
        "target": "fast f1_pn >= plain f1_pn - 0.02",
        "target_met": difference >= -0.02,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("f1_pn_difference_fast_minus_plain", "speedup_train_samples_per_second",
                                             "target_met")}))
    for name, run in result["runs"].items():
        print(name, run["metrics"])


if __name__ == "__main__":
    main()
