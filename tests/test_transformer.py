"""The transformer path end to end, with a tiny randomly initialised BERT built in the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parents[1]
SENTENCES = REPO / "data" / "peace-talks-ar" / "data" / "sentences.jsonl"


def seed_texts() -> list[str]:
    return [json.loads(line)["text"] for line in SENTENCES.read_text(encoding="utf-8").splitlines()]


def compose_cfg(tmp_path: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("train", overrides=[
            f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
            f"tracking.artifact_location={tmp_path}/mlruns",
            f"output_dir={tmp_path}/out",
            "eval.bootstrap_resamples=50",
            # The 13 seed sentences (k-fold) keep a tiny-model fit in seconds; the written split is
            # exercised by test_train's default run.
            "data=peace_talks_seed", "~data.eval_sets.fignews",
            *overrides,
        ])


def tiny_overrides(folder: Path, epochs: int = 2) -> list[str]:
    return ["model=arabert", f"model.params.model_name_or_path={folder}", "model.params.preprocessing=none",
            f"model.params.epochs={epochs}", "model.params.batch_size=8"]


@pytest.mark.slow
def test_tiny_bert_trains_through_train_and_logs_like_tfidf(tmp_path, tiny_bert):
    import mlflow

    from stancebench.experiment.train import train

    result = train(compose_cfg(tmp_path, *tiny_overrides(tiny_bert), "eval=kfold", "eval.k=3"))
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run = client.get_run(result["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["model_family"] == "transformer"
    for key in ("accuracy", "macro_f1", "f1_favor", "f1_against", "f1_none", "f_avg", "macro_f1_ci_low",
                "macro_f1_ci_high"):
        assert key in run.data.metrics, key
    history = client.get_metric_history(result["run_id"], "train_loss")
    assert sorted(m.step for m in history) == [1, 2]  # one point per epoch of the logged model, not per step


@pytest.mark.slow
def test_logged_transformer_predicts_label_strings_from_raw_arabic(tmp_path, tiny_bert):
    import mlflow

    from stancebench.experiment.train import train

    result = train(compose_cfg(tmp_path, *tiny_overrides(tiny_bert, epochs=1), "eval=kfold", "eval.k=3",
                               "task=sentiment"))
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    model = mlflow.pyfunc.load_model(result["model_uri"])
    out = model.predict(seed_texts()[:2])
    assert set(out["label"]) <= {"positive", "negative", "neutral"}
    local = Path(mlflow.artifacts.download_artifacts(result["model_uri"], dst_path=str(tmp_path / "dl")))
    config = json.loads(next(local.rglob("config.json")).read_text())
    assert set(config["id2label"].values()) == {"positive", "negative", "neutral"}
    assert list(local.rglob("*.safetensors")) and not list(local.rglob("pytorch_model.bin"))


@pytest.mark.slow
def test_same_seed_gives_identical_transformer_predictions(tmp_path, tiny_bert):
    from stancebench.experiment.train import train

    first = train(compose_cfg(tmp_path / "a", *tiny_overrides(tiny_bert, epochs=1), "eval=kfold", "eval.k=3"))
    second = train(compose_cfg(tmp_path / "b", *tiny_overrides(tiny_bert, epochs=1), "eval=kfold", "eval.k=3"))
    timing = {"train_samples_per_second", "train_runtime"}  # wall-clock figures, not results
    scores = lambda r: {k: v for k, v in r["metrics"].items() if k not in timing}  # noqa: E731
    assert scores(first) == scores(second)
    read = lambda r: (Path(r["output_dir"]) / "run" / "predictions.jsonl").read_text()  # noqa: E731
    assert read(first) == read(second)


def test_class_weights_and_label_mapping_follow_the_training_labels(tiny_bert):
    from stancebench.models.transformer import TransformerClassifier

    texts = seed_texts()
    labels = ["favor"] * 8 + ["none"] * 5
    model = TransformerClassifier(model_name_or_path=str(tiny_bert), epochs=1, batch_size=8).fit(texts, labels)
    assert model.labels_ == ["favor", "none"]
    assert model.model_.config.id2label == {0: "favor", 1: "none"}
    scores = model.predict_scores(texts[:3])
    assert scores.shape == (3, 2) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-5)


def test_target_aware_input_pairs_target_and_sentence(tiny_bert):
    from stancebench.models.transformer import TransformerClassifier

    texts = seed_texts()[:6]
    targets = ["peace talks", "elections"] * 3
    model = TransformerClassifier(model_name_or_path=str(tiny_bert), epochs=1)
    model.fit(texts, ["favor", "none"] * 3, targets)
    assert model.target_aware_
    encoded = model._tokenize(texts[:1], targets[:1])
    ids = encoded["input_ids"][0]
    sep = model.tokenizer_.sep_token_id
    assert ids.count(sep) == 2  # [CLS] target [SEP] sentence [SEP]


def test_unreachable_hub_fails_in_seconds_with_a_way_out(tmp_path):
    env = dict(os.environ, HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"),
               MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db")
    env.pop("HF_HUB_OFFLINE", None)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "stancebench", "train", "model=arabert"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert "aubmindlab/bert-base-arabertv02" in last and "model_name_or_path" in last
    assert "Traceback" not in proc.stderr
    assert elapsed < 30  # process start and imports included; the probe itself gives up after 3 s


def test_arabert_preprocessing_strips_diacritics_and_never_returns_empty():
    from stancebench.models.transformer import make_preprocessor

    prep = make_preprocessor("arabert", "aubmindlab/bert-base-arabertv02")
    out = prep("وَقَالَ بيسكوف: يبدو أنه سيتم إحراز بعض التقدم")
    assert "\u064e" not in out and "بيسكوف" in out and out.strip()


def test_model_version_needing_farasa_is_refused_clearly():
    from stancebench.errors import UserError
    from stancebench.models.transformer import make_preprocessor

    with pytest.raises(UserError, match="Farasa"):
        make_preprocessor("arabert", "aubmindlab/bert-base-arabertv2")


@pytest.mark.slow
def test_torchrun_two_processes_log_one_run_with_single_process_metrics(tmp_path, tiny_bert):
    import mlflow

    args = ["train", *tiny_overrides(tiny_bert), "data=peace_talks_seed", "~data.eval_sets.fignews",
            "eval=kfold", "eval.k=3", "eval.bootstrap_resamples=50",
            f"tracking.artifact_location={tmp_path}/mlruns"]
    for name, launcher in (("single", [sys.executable, "-m", "stancebench"]),
                           ("ddp", [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                                    "--master_port=29533", "-m", "stancebench"])):
        env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/{name}.db", OMP_NUM_THREADS="1")
        proc = subprocess.run([*launcher, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    runs = {}
    for name in ("single", "ddp"):
        client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/{name}.db")
        found = client.search_runs([client.get_experiment_by_name("stancebench").experiment_id])
        assert len(found) == 1 and found[0].info.status == "FINISHED"
        runs[name] = found[0]
    assert runs["ddp"].data.tags["world_size"] == "2"
    assert abs(runs["ddp"].data.metrics["macro_f1"] - runs["single"].data.metrics["macro_f1"]) <= 0.15


@pytest.mark.slow
def test_served_arabert_model_applies_the_training_preprocessing(tmp_path, tiny_bert):
    import mlflow

    from stancebench.experiment.train import train

    overrides = [o for o in tiny_overrides(tiny_bert, epochs=1) if "preprocessing" not in o]
    result = train(compose_cfg(tmp_path, *overrides, "model.params.preprocessing=arabert", "eval=kfold", "eval.k=3"))
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    model = mlflow.pyfunc.load_model(result["model_uri"])
    plain = "قال الكرملين إن بوتين مستعد للقاء ترامب"
    voweled = "قَالَ الكرملين إِنَّ بوتين مستعدٌّ للقاء ترامب"  # AraBERT strips the diacritics again
    out = model.predict([plain, voweled])
    # The same model input after preprocessing (the raw strings' probabilities are ~4e-6 apart).
    assert out["probabilities"][0] == out["probabilities"][1]
    local = Path(mlflow.artifacts.download_artifacts(result["model_uri"], dst_path=str(tmp_path / "dl")))
    assert list(local.rglob("*.safetensors")) and not list(local.rglob("*.pkl"))
