"""Transformer fine-tuning and inference at the CPU's limit, side by side with the plain library.

1. Fine-tuning: the same tweets (ArSarcasm-v2 sentiment, the first N training tweets), model and
   hyperparameters (lr 5e-5, batch 16, max length 128, warm-up 0.1, weight decay 0.01, no class
   weights, no early stopping), once through ``python -m stancebench train`` with the model's
   configured defaults (e5_small: bf16 autocast where native, word embeddings frozen, length-grouped
   batches, no attention dropout, the eager attention kernel) and once through ``plain_trainer.py``, a plain fp32 Trainer script.  Both report the
   Trainer's own ``train_samples_per_second``.  Target (e5_small): >= 2.5x.
2. Inference: the model that run logged, loaded as ``stancebench predict`` loads it
   (``stancebench.serve.loading``) and asked for M test tweets with the command's defaults (calls of
   512 sentences, sorted by length inside, forward batches of 64), against a plain fp32 loop over the
   same fine-tuned weights (tokenizer padding per batch of 64, input order).  Load time is left out of
   both.  Target (e5_small): >= 2x.
3. Model FLOP utilisation: 6 (training) or 2 (inference) x the encoder's non-embedding parameters x
   tokens per second, against a 2048 x 2048 matmul measured in the same run (fp32 and bf16).
4. Peak memory: each process's peak RSS.

    python benchmarks/bench_transformer.py [--e5-train 1000] [--test 512] [--out benchmarks/results/transformer.json]
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
TARGETS = {"train": 2.5, "predict": 2.0}

STANCEBENCH_INFER = """
import json, sys, time, pandas as pd
from stancebench.serve.inputs import Sentence
from stancebench.serve.loading import open_model
from stancebench.serve.predict import predict_sentences
texts = list(pd.read_csv(sys.argv[3], dtype=str, keep_default_na=False)["text"])
sentences = [Sentence(i, t) for i, t in enumerate(texts)]
import mlflow; mlflow.set_tracking_uri(sys.argv[1])
with open_model(sys.argv[2]) as model:
    list(predict_sentences(model, sentences[:64], progress=False))  # warm-up
    start = time.perf_counter()
    n = sum(1 for _ in predict_sentences(model, sentences, progress=False))  # the command's defaults
    print(json.dumps({"sentences": n, "seconds": time.perf_counter() - start}))
"""

PLAIN_INFER = """
import json, sys, time, pandas as pd, torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
texts = list(pd.read_csv(sys.argv[2], dtype=str, keep_default_na=False)["text"])
tok = AutoTokenizer.from_pretrained(sys.argv[1])
model = AutoModelForSequenceClassification.from_pretrained(sys.argv[1]).eval()
def run(batch):
    with torch.inference_mode():
        for s in range(0, len(batch), 64):
            enc = tok(batch[s:s + 64], truncation=True, max_length=128, padding=True, return_tensors="pt")
            torch.softmax(model(**enc).logits, dim=-1)
run(texts[:64])  # warm-up
start = time.perf_counter()
run(texts)
print(json.dumps({"sentences": len(texts), "seconds": time.perf_counter() - start}))
"""

PEAK = """
import json, time, torch
out = {}
for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    for _ in range(3): a @ b
    n, start = 20, time.perf_counter()
    for _ in range(n): a @ b
    out[name] = 2 * 2048 ** 3 * n / (time.perf_counter() - start) / 1e9
print(json.dumps(out))
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


def run_script(source: str, args: list[str], tmp: Path, env: dict) -> tuple[dict, float]:
    script = tmp / f"script-{abs(hash(source))}.py"
    script.write_text(source)
    stdout, _, rss = run_measured([sys.executable, str(script), *args], tmp, env)
    return json.loads(stdout.strip().splitlines()[-1]), rss


def prepare_data(folder: Path, n_train: int, n_test: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source, n in (("train.csv", "training_data.csv", n_train), ("test.csv", "testing_data.csv", n_test)):
        frame = pd.read_csv(ARSARCASM / source, dtype=str, keep_default_na=False).head(n)
        pd.DataFrame({"text": frame["tweet"], "label": [LABELS[s] for s in frame["sentiment"]]}).to_csv(
            folder / name, index=False)


def encoder_facts(model_dir: str, texts: list[str]) -> dict:
    """Non-embedding parameters of the encoder and mean tokens per text (truncated at 128)."""
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(model_dir)
    h, layers, ffn = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    per_layer = 4 * h * h + 4 * h + 2 * h * ffn + ffn + h + 4 * h  # attention, FFN, two LayerNorms
    tokens = AutoTokenizer.from_pretrained(model_dir)(texts, truncation=True, max_length=128)["input_ids"]
    return {"non_embedding_params": layers * per_layer, "mean_tokens": sum(map(len, tokens)) / len(tokens)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--e5-train", type=int, default=1000)
    parser.add_argument("--test", type=int, default=512)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "transformer.json")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    from stancebench.models.e5 import e5_folder

    results: dict = {"machine": f"{os.cpu_count()} cores", "targets": TARGETS}
    with tempfile.TemporaryDirectory(prefix="bench-transformer-") as tmp:
        tmp = Path(tmp)
        peak, _ = run_script(PEAK, [], tmp, env)
        results["matmul_2048_gflops"] = {k: round(v, 1) for k, v in peak.items()}
        model_dir = str(e5_folder())
        data = tmp / "data"
        prepare_data(data, args.e5_train, args.test)
        train_texts = list(pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)["text"])
        test_texts = list(pd.read_csv(data / "test.csv", dtype=str, keep_default_na=False)["text"])
        facts = encoder_facts(model_dir, train_texts)
        test_tokens = encoder_facts(model_dir, test_texts)["mean_tokens"]
        plain_json = tmp / "plain.json"
        _, plain_wall, plain_rss = run_measured(
            [sys.executable, str(ROOT / "benchmarks" / "plain_trainer.py"), model_dir, str(data / "train.csv"),
             "1", "16", "128", str(plain_json)], tmp, env)
        store, out_dir = f"sqlite:///{tmp}/mlflow.db", tmp / "run"
        stdout, cli_wall, cli_rss = run_measured(
            [sys.executable, "-m", "stancebench", "train", "data=csv", "data.splits.train=" + str(data / "train.csv"),
             "data.splits.test=" + str(data / "test.csv"), "data.columns.sentiment=label", "data.columns.target=null",
             "data.columns.stance=null", "data.columns.id=null", "task=sentiment", "model=e5_small",
             "model.params.epochs=1", "model.params.batch_size=16", "model.params.class_weight=null",
             "model.params.early_stopping_patience=0", "model.params.learning_rate=5e-5",
             f"tracking.uri={store}", f"tracking.artifact_location={tmp}/mlruns", f"output_dir={out_dir}",
             f"hydra.run.dir={out_dir}", "eval.bootstrap_resamples=100"], tmp, env)
        run_id = stdout.split("run ", 1)[1].split(":", 1)[0]
        ours = json.loads((out_dir / "run" / "metrics.json").read_text())["train_samples_per_second"]
        plain = json.loads(plain_json.read_text())["train_samples_per_second"]
        flops = lambda rate, factor: factor * facts["non_embedding_params"] * rate  # noqa: E731
        results["fine_tuning"] = {
            "model": "e5_small", "train_tweets": args.e5_train, "epochs": 1, "batch_size": 16,
            "mean_tokens": round(facts["mean_tokens"], 1),
            "stancebench_samples_per_s": round(ours, 2), "plain_fp32_trainer_samples_per_s": round(plain, 2),
            "ratio": round(ours / plain, 2), "meets_target": ours / plain >= TARGETS["train"],
            "stancebench_mfu_vs_bf16_peak": round(flops(ours * facts["mean_tokens"], 6) / (peak["bf16"] * 1e9), 3),
            "plain_mfu_vs_fp32_peak": round(flops(plain * facts["mean_tokens"], 6) / (peak["fp32"] * 1e9), 3),
            "stancebench_peak_rss_mib": round(cli_rss), "plain_peak_rss_mib": round(plain_rss),
            "stancebench_process_wall_s": round(cli_wall, 1), "plain_process_wall_s": round(plain_wall, 1),
        }
        # The fine-tuned weights the run logged, for the plain loop: the same model, fp32, no stancebench.
        import mlflow

        mlflow.set_tracking_uri(store)
        local = Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/model", dst_path=str(tmp / "model")))
        (hf,) = local.rglob("hf_model")
        texts_csv = tmp / "texts.csv"
        pd.DataFrame({"text": test_texts}).to_csv(texts_csv, index=False)
        ours_t, ours_rss = run_script(STANCEBENCH_INFER, [store, f"runs:/{run_id}/model", str(texts_csv)], tmp, env)
        plain_t, plain_rss = run_script(PLAIN_INFER, [str(hf), str(texts_csv)], tmp, env)
        ours_rate, plain_rate = ours_t["sentences"] / ours_t["seconds"], plain_t["sentences"] / plain_t["seconds"]
        results["inference"] = {
            "model": "e5_small (the model fine-tuned above)", "sentences": len(test_texts),
            "mean_tokens": round(test_tokens, 1),
            "stancebench_predict_sentences_per_s": round(ours_rate, 1),
            "plain_fp32_loop_sentences_per_s": round(plain_rate, 1),
            "ratio": round(ours_rate / plain_rate, 2), "meets_target": ours_rate / plain_rate >= TARGETS["predict"],
            "stancebench_mfu_vs_bf16_peak": round(flops(ours_rate * test_tokens, 2) / (peak["bf16"] * 1e9), 3),
            "plain_mfu_vs_fp32_peak": round(flops(plain_rate * test_tokens, 2) / (peak["fp32"] * 1e9), 3),
            "stancebench_peak_rss_mib": round(ours_rss), "plain_peak_rss_mib": round(plain_rss),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
