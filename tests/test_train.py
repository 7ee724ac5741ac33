"""End-to-end training: train(cfg) into a real SQLite MLflow store, the logged run, the model, bad inputs."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from stancebench.corpus.dataset import dataset_digest
from stancebench.errors import UserError
from stancebench.experiment.scoring import classification_scores
from stancebench.experiment.spec import ExperimentSpec

from training_helpers import (
    DATASET,
    REPO,
    SENTIMENT_LABELS,
    STANCE_LABELS,
    assert_user_error,
    client,
    compose_cfg,
    runs_of,
    sentences,
    store_overrides,
    store_uri,
    train_cfg,
    train_cli,
    write_csv,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def spec_of(overrides: list[str]) -> ExperimentSpec:
    return ExperimentSpec.from_config(compose_cfg(overrides))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """One SQLite store for this module's in-process runs (creating a store's tables costs ~5 s)."""
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def stance_run(store):
    """The default experiment (stance, tfidf_logreg, auto -> holdout) on peace-talks-ar: trained on the
    written split, scored on the real seed sentences and on FIGNEWS (joined from ../shared)."""
    from stancebench.experiment.train import train

    cfg = train_cfg(store, out="stance-1")
    return cfg, train(cfg)


def artifact_text(store: Path, run_id: str, path: str) -> str:
    return Path(client(store).download_artifacts(run_id, path, str(store / f"dl-{run_id}"))).read_text("utf-8")


def artifact_bytes(store: Path, run_id: str, path: str) -> bytes:
    return Path(client(store).download_artifacts(run_id, path, str(store / f"dl-{run_id}"))).read_bytes()


def test_run_is_finished_with_the_auto_protocol(store, stance_run):
    _, result = stance_run
    run = client(store).get_run(result["run_id"])
    assert run.info.status == "FINISHED"
    assert run.info.end_time is not None
    assert result["protocol"] == "holdout"  # train: the written split; test: the real seed sentences
    exp = client(store).get_experiment(run.info.experiment_id)
    assert exp.name == "stancebench"
    assert exp.artifact_location.startswith((store / "mlruns").as_uri())


def test_params_are_the_flattened_config(store, stance_run):
    cfg, result = stance_run
    params = client(store).get_run(result["run_id"]).data.params
    assert params["model.params.C"] == str(cfg.model.params.C) == "10.0"
    assert params["model.params.classifier"] == "logreg"
    assert params["task.name"] == "stance"
    assert params["seed"] == "0"
    assert params["data.name"] == "peace-talks-ar"
    assert params["eval.protocol"] == "auto" and params["protocol"] == "holdout"
    assert params["eval.bootstrap_resamples"] == "50"
    assert params["n_train"] == str(len(written_rows())) and len(written_rows()) >= 1500
    assert params["task.labels"] == str(STANCE_LABELS)


def test_tags_name_task_model_dataset_and_commit(store, stance_run):
    _, result = stance_run
    tags = client(store).get_run(result["run_id"]).data.tags
    assert tags["task"] == "stance"
    assert tags["model_family"] == "tfidf"
    assert tags["model"] == "tfidf_logreg"
    assert tags["dataset"] == "peace-talks-ar"
    assert tags["dataset_digest"] == dataset_digest(DATASET)
    assert len(tags["dataset_digest"]) == 12
    assert tags["protocol"] == "holdout"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    if head.returncode == 0:
        assert tags["git_commit"] == head.stdout.strip()
        assert tags["git_dirty"] in {"True", "False"}
    else:
        assert tags["git_commit"] == "unknown"
    assert "sweep" not in tags  # a single run belongs to no sweep


def test_metrics_are_logged_and_consistent_with_the_predictions(store, stance_run):
    _, result = stance_run
    metrics = client(store).get_run(result["run_id"]).data.metrics
    for name in ("accuracy", "macro_f1", "f1_favor", "f1_against", "f1_none", "f_avg",
                 "macro_f1_ci_low", "macro_f1_ci_high", "n_eval"):
        assert name in metrics, name
    assert "f1_pn" not in metrics
    assert metrics["macro_f1_ci_low"] <= metrics["macro_f1"] <= metrics["macro_f1_ci_high"]
    assert metrics["macro_f1_ci_low"] < metrics["macro_f1_ci_high"]
    assert metrics["n_eval"] == 13
    assert metrics == pytest.approx(result["metrics"])
    # The logged scores are those of the logged predictions.
    rows = [json.loads(line) for line in artifact_text(store, result["run_id"], "predictions.jsonl").splitlines()]
    recomputed = classification_scores([r["gold"] for r in rows], [r["predicted"] for r in rows], STANCE_LABELS,
                                       "stance")
    for name, value in recomputed.items():
        assert metrics[name] == pytest.approx(value), name


def test_artifacts(store, stance_run):
    cfg, result = stance_run
    run_id = result["run_id"]
    names = {a.path for a in client(store).list_artifacts(run_id)}
    assert {"config.yaml", "overrides.yaml", "classification_report.txt", "confusion_matrix.png",
            "predictions.jsonl"} <= names
    # The resolved config, as composed, with the task's labels and main score filled in from its TaskSpec.
    expected = OmegaConf.to_container(cfg, resolve=True)
    expected["task"].update(labels=STANCE_LABELS, main_score="f_avg")
    assert yaml.safe_load(artifact_text(store, run_id, "config.yaml")) == expected
    # train(cfg) called directly has no command-line overrides.
    assert yaml.safe_load(artifact_text(store, run_id, "overrides.yaml")) == []
    report = artifact_text(store, run_id, "classification_report.txt")
    for label in STANCE_LABELS:
        assert label in report
    assert "macro avg" in report
    png = artifact_bytes(store, run_id, "confusion_matrix.png")
    assert png.startswith(PNG_MAGIC) and len(png) > 5000
    # One prediction per sentence, with its id and gold label, in the dataset's order.
    rows = [json.loads(line) for line in artifact_text(store, run_id, "predictions.jsonl").splitlines()]
    seed_rows = sentences()
    assert [r["id"] for r in rows] == [s["id"] for s in seed_rows]
    assert [r["gold"] for r in rows] == [s["stance"] for s in seed_rows]
    assert [r["text"] for r in rows] == [s["text"] for s in seed_rows]
    assert all(r["predicted"] in STANCE_LABELS for r in rows)
    assert {r["fold"] for r in rows} == {0}  # holdout: one model, trained on the written split
    # The local copy in output_dir is the same.
    local = Path(result["output_dir"]) / "run" / "predictions.jsonl"
    assert local.read_text("utf-8") == artifact_text(store, run_id, "predictions.jsonl")


def test_dataset_is_logged_as_an_input(store, stance_run):
    _, result = stance_run
    inputs = client(store).get_run(result["run_id"]).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["peace-talks-ar"]
    (inp,) = inputs
    assert inp.dataset.digest == dataset_digest(DATASET)
    assert {t.key: t.value for t in inp.tags}.get("mlflow.data.context") == "training"
    profile = json.loads(inp.dataset.profile)
    assert profile["num_rows"] == len(written_rows())


def written_rows() -> list[dict]:
    path = DATASET / "data" / "synthetic.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


FIGNEWS_COPY = REPO.parent / "shared" / "datasets" / "fignews-2024" / "FIGNEWS-2024-TEXT-IAA.tsv"


@pytest.mark.skipif(not FIGNEWS_COPY.is_file(), reason="../shared/datasets/fignews-2024 not present")
def test_the_default_run_is_also_scored_on_fignews_under_its_own_prefix(store, stance_run):
    _, result = stance_run
    run = client(store).get_run(result["run_id"])
    metrics, tags = run.data.metrics, run.data.tags
    assert tags["eval_sets"] == "fignews" and tags["eval_set.fignews.dataset"] == "fignews-2024"
    assert tags["eval_set.fignews.text_upstream"] == "true"
    rows = [json.loads(line) for line in artifact_text(store, result["run_id"], "predictions-fignews.jsonl").splitlines()]
    assert len(rows) >= 250 and all(r["id"].startswith("fignews-") for r in rows)
    assert metrics["fignews/n_eval"] == len(rows)
    recomputed = classification_scores([r["gold"] for r in rows], [r["predicted"] for r in rows], STANCE_LABELS,
                                       "stance")
    for name, value in recomputed.items():
        assert metrics[f"fignews/{name}"] == pytest.approx(value), name
    assert metrics["fignews/f_avg_ci_low"] <= metrics["fignews/f_avg"] <= metrics["fignews/f_avg_ci_high"]
    assert metrics["n_eval"] == 13  # the plain keys stay the primary set's (the seed sentences)


def test_an_optional_eval_set_whose_files_are_missing_is_left_out_with_one_note(store, tmp_path, run_cli):
    import shutil

    folder = tmp_path / "peace-talks-ar"
    shutil.copytree(DATASET, folder, ignore=shutil.ignore_patterns("fignews-2024.jsonl", "SHA256SUMS.upstream"))
    result = run_cli("train", *store_overrides(store, out="no-fignews"), f"data.source={folder}",
                     "run_name=no-fignews", timeout=180)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "eval set 'fignews' (fignews-2024) left out" in notes[0], result.stderr
    assert "fignews:" not in result.stdout
    (run,) = [r for r in client(store).search_runs(
        [client(store).get_experiment_by_name("stancebench").experiment_id]) if r.info.run_name == "no-fignews"]
    assert not any(k.startswith("fignews/") for k in run.data.metrics) and "eval_sets" not in run.data.tags


def test_logged_model_predicts_label_strings_from_raw_arabic(store, stance_run):
    import mlflow

    _, result = stance_run
    mlflow.set_tracking_uri(store_uri(store))
    texts = [s["text"] for s in sentences()[:2]]
    assert all(any("\u0600" <= ch <= "\u06ff" for ch in t) for t in texts)
    model = mlflow.pyfunc.load_model(f"runs:/{result['run_id']}/model")
    out = model.predict(np.array(texts, dtype=object))
    predicted = list(out["label"])
    assert len(predicted) == 2
    assert all(isinstance(p, str) and p in STANCE_LABELS for p in predicted)
    assert all(sorted(p) == sorted(STANCE_LABELS) for p in out["probabilities"])
    # The model is the final one refit on all sentences: it reproduces a fresh fit's predictions.
    from stancebench.models.tfidf import TfidfClassifier

    params = {k: v for k, v in OmegaConf.to_container(stance_run[0].model.params).items() if k != "_target_"}
    rows = sentences()
    fresh = TfidfClassifier(**params).fit([r["text"] for r in rows], [r["stance"] for r in rows],
                                         [r["target"] for r in rows], seed=0)
    assert list(predicted) == fresh.predict(texts)
    # Flavour, signature, input example and explicit requirements.
    info = model.metadata
    assert set(info.flavors) == {"python_function"}
    assert info.signature is not None and info.saved_input_example_info is not None
    local = Path(mlflow.artifacts.download_artifacts(f"runs:/{result['run_id']}/model", dst_path=str(store / "m")))
    requirements = (local / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "skops==" in requirements
    assert "torch" not in requirements


def test_same_seed_twice_gives_identical_metrics_and_predictions(store, stance_run):
    from stancebench.experiment.train import train

    cfg, first = stance_run
    again = train(train_cfg(store, out="stance-2"))
    assert again["run_id"] != first["run_id"]
    assert again["metrics"] == first["metrics"]
    c = client(store)
    assert c.get_run(again["run_id"]).data.metrics == c.get_run(first["run_id"]).data.metrics
    assert artifact_bytes(store, again["run_id"], "predictions.jsonl") == \
        artifact_bytes(store, first["run_id"], "predictions.jsonl")


@pytest.mark.parametrize("fork", [True, False])
def test_tfidf_fit_forked_or_in_process_gives_the_same_run(store, stance_run, monkeypatch, tmp_path, fork):
    import os

    from stancebench.experiment.train import train
    from stancebench.models.tfidf import TfidfClassifier

    fit, pids = TfidfClassifier.fit, tmp_path / "pids"

    def recording_fit(self, *args, **kwargs):
        with open(pids, "a") as f:  # appended from whichever process fits
            f.write(f"{os.getpid()}\n")
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(TfidfClassifier, "fit", recording_fit)
    result = train(train_cfg(store, f"fit_in_subprocess={str(fork).lower()}", out=f"fork-{fork}"))
    fitted_in = set(pids.read_text().split())
    assert (str(os.getpid()) not in fitted_in) if fork else (fitted_in == {str(os.getpid())})
    assert len(pids.read_text().split()) == 1  # holdout: one model, the one logged
    _, default = stance_run
    assert result["metrics"] == default["metrics"]
    assert artifact_bytes(store, result["run_id"], "predictions.jsonl") == \
        artifact_bytes(store, default["run_id"], "predictions.jsonl")
    assert client(store).get_run(result["run_id"]).data.params["fit_in_subprocess"] == str(fork)


def test_fit_in_subprocess_auto_forks_tfidf_fits_only_with_two_cpus(monkeypatch):
    from stancebench import background
    from stancebench.experiment.spec import _fork_fit
    from stancebench.models.tfidf import TfidfClassifier
    from stancebench.models.transformer import TransformerClassifier

    for cpus, expected in ((1, False), (2, True), (8, True)):
        monkeypatch.setattr(background, "usable_cpus", lambda cpus=cpus: cpus)
        assert _fork_fit("auto", TfidfClassifier) is expected
        assert _fork_fit("auto", TransformerClassifier) is False  # the Trainer keeps its own process
    assert _fork_fit(True, TfidfClassifier) is True and _fork_fit(False, TfidfClassifier) is False
    monkeypatch.setattr(background, "fork_available", lambda: False)  # macOS, Windows
    assert _fork_fit(True, TfidfClassifier) is False
    for bad in ("yes", 1, None):
        with pytest.raises(UserError, match="must be auto, true or false"):
            _fork_fit(bad, TfidfClassifier)


def test_sentiment_run_logs_f1_pn(store):
    from stancebench.experiment.train import train

    result = train(train_cfg(store, "data=peace_talks_seed", "task=sentiment", "model=tfidf_svm", "eval=kfold",
                             "eval.k=2", out="sentiment"))
    run = client(store).get_run(result["run_id"])
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    for name in ("accuracy", "macro_f1", "f1_positive", "f1_negative", "f1_neutral", "f1_pn",
                 "f1_pn_ci_low", "f1_pn_ci_high"):
        assert name in metrics, name
    assert "f_avg" not in metrics
    assert metrics["f1_pn"] == pytest.approx((metrics["f1_positive"] + metrics["f1_negative"]) / 2)
    assert metrics["macro_f1_ci_low"] <= metrics["macro_f1"] <= metrics["macro_f1_ci_high"]
    assert run.data.tags["task"] == "sentiment" and run.data.tags["protocol"] == "kfold"
    rows = [json.loads(line) for line in artifact_text(store, result["run_id"], "predictions.jsonl").splitlines()]
    assert [r["gold"] for r in rows] == [s["sentiment"] for s in sentences()]
    assert sorted({r["fold"] for r in rows}) == [0, 1]
    assert all(r["predicted"] in SENTIMENT_LABELS for r in rows)


@pytest.mark.parametrize("error, status", [(RuntimeError, "FAILED"), (KeyboardInterrupt, "KILLED")])
def test_a_crash_inside_the_run_ends_it_failed_not_running(store, monkeypatch, error, status):
    from stancebench.experiment.train import train
    from stancebench.models.tfidf import TfidfClassifier

    def broken_fit(self, *args, **kwargs):
        raise error("fit exploded")

    monkeypatch.setattr(TfidfClassifier, "fit", broken_fit)
    name = f"crash-{error.__name__}"
    with pytest.raises(error, match="fit exploded"):
        train(train_cfg(store, f"run_name={name}", out=name))
    (run,) = [r for r in runs_of(store) if r.info.run_name == name]
    assert run.info.status == status
    assert run.info.end_time is not None
    # The run had started properly: its params and dataset were logged before the crash.
    assert run.data.params["task.name"] == "stance"
    import mlflow

    assert mlflow.active_run() is None


# --- data preparation (no run) ------------------------------------------------------------------------


def test_protocol_is_chosen_for_the_capped_training_data():
    from stancebench.experiment.data import prepare_data

    full = prepare_data(spec_of(["data=peace_talks_seed", "eval.loo_max_items=5"]))
    assert (len(full.train), full.protocol) == (13, "kfold")
    capped = prepare_data(spec_of(["data=peace_talks_seed", "eval.loo_max_items=5", "max_train_samples=5"]))
    assert (len(capped.train), capped.protocol) == (5, "loo")
    assert set(capped.train.ids) <= set(full.train.ids)
    # The sample is deterministic given the seed.
    assert prepare_data(spec_of(["data=peace_talks_seed", "eval.loo_max_items=5",
                                     "max_train_samples=5"])).train.ids == \
        capped.train.ids


def test_evaluation_labels_outside_the_task_are_a_user_error(tmp_path):
    from stancebench.errors import UserError
    from stancebench.experiment.data import prepare_data

    # Train on favor/none only; the evaluation data (peace-talks-ar) also has "against".
    source = write_csv(tmp_path / "two.csv", *csv_rows(["favor", "none", "favor", "none"]))
    cfg = compose_cfg(["data=csv", f"data.source={source}", "eval=cross_dataset", "task.labels=[favor,none]",
                       "task.main_score=macro_f1"])
    with pytest.raises(UserError, match="'peace-talks-ar' has stance labels \\['against'\\] outside task.labels"):
        prepare_data(ExperimentSpec.from_config(cfg))


# --- bad inputs through the CLI ------------------------------------------------------------------------


def csv_rows(labels: list[str], column: str = "stance") -> tuple[list[str], list[list[str]]]:
    texts = [s["text"] for s in sentences()]
    header = ["id", "text", "target", column]
    return header, [[f"s{i}", texts[i % len(texts)], "peace talks", lab] for i, lab in enumerate(labels)]


def test_cli_dataset_without_the_task_label_column(tmp_path):
    proc = train_cli(tmp_path, "data=arsarcasm_v2", "task=stance")
    line = assert_user_error(proc, "arsarcasm-v2", "stance")
    assert "task=" in line  # says how to get out
    assert not (tmp_path / "mlflow.db").exists(), "no run for a config that cannot train"


def test_cli_training_data_with_one_class(tmp_path):
    source = write_csv(tmp_path / "one-class.csv", *csv_rows(["favor"] * 6))
    proc = train_cli(tmp_path, "data=csv", f"data.source={source}")
    assert_user_error(proc, "one class", "favor")
    assert not (tmp_path / "mlflow.db").exists(), "caught before a run is started"


def test_cli_training_fold_with_one_class_fails_before_any_run(tmp_path):
    # Three favor and one against: with two folds, one training fold has no "against".
    source = write_csv(tmp_path / "folds.csv", *csv_rows(["favor", "favor", "favor", "against"]))
    proc = train_cli(tmp_path, "data=csv", f"data.source={source}", "eval=kfold", "eval.k=2",
                     "eval.bootstrap_resamples=20", "run_name=one-class-fold",
                     MLFLOW_TRACKING_URI=store_uri(tmp_path / "store"))
    assert_user_error(proc, "training fold", "one class", "eval.k")
    # The folds are checked while the data is prepared: no store is even opened, no run left FAILED.
    assert not (tmp_path / "store" / "mlflow.db").exists()


def test_cli_empty_dataset_after_filtering(tmp_path):
    # Every stance label empty: nothing is left to train on.
    header, rows = csv_rows(["", "", ""])
    source = write_csv(tmp_path / "unlabelled.csv", header, rows)
    proc = train_cli(tmp_path, "data=csv", f"data.source={source}")
    assert_user_error(proc, "'unlabelled'", "no stance labels")  # named after its file


def test_cli_max_train_samples_zero(tmp_path):
    proc = train_cli(tmp_path, "max_train_samples=0")
    assert_user_error(proc, "max_train_samples=0", "no items")


def test_cli_csv_without_source(tmp_path):
    proc = train_cli(tmp_path, "data=csv")
    assert_user_error(proc, "data.source")


def test_cli_unreachable_tracking_server_fails_fast(tmp_path):
    start = time.monotonic()
    proc = train_cli(tmp_path, "tracking.uri=http://127.0.0.1:9", timeout=60)
    elapsed = time.monotonic() - start
    assert_user_error(proc, "http://127.0.0.1:9", "unreachable")
    assert elapsed < 10, f"took {elapsed:.1f} s"


def test_cli_unreachable_server_from_the_environment(tmp_path):
    proc = train_cli(tmp_path, timeout=60, MLFLOW_TRACKING_URI="http://127.0.0.1:9")
    assert_user_error(proc, "http://127.0.0.1:9")


# --- multirun --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_joblib_multirun_on_a_fresh_store(tmp_path):
    assert not (tmp_path / "mlflow.db").exists()
    proc = train_cli(tmp_path, "-m", "model=tfidf_logreg,tfidf_svm", "seed=1,2", "hydra/launcher=joblib",
                     "hydra.launcher.n_jobs=2", "data=peace_talks_seed", "~data.eval_sets.fignews", "eval=kfold",
                     "eval.k=3", "eval.bootstrap_resamples=50", timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    runs = runs_of(tmp_path)
    assert len(runs) == 4
    assert all(r.info.status == "FINISHED" for r in runs)
    sweeps = {r.data.tags.get("sweep") for r in runs}
    assert len(sweeps) == 1 and None not in sweeps
    (sweep,) = sweeps
    assert Path(sweep).is_dir() and Path(sweep).is_relative_to(tmp_path / "multirun")
    assert sorted(r.data.tags["sweep_job"] for r in runs) == ["0", "1", "2", "3"]
    combos = sorted((r.data.params["model.name"], r.data.params["seed"]) for r in runs)
    assert combos == [("tfidf_logreg", "1"), ("tfidf_logreg", "2"), ("tfidf_svm", "1"), ("tfidf_svm", "2")]
    # Each run records its own command-line overrides.
    for r in runs:
        overrides = yaml.safe_load(artifact_text(tmp_path, r.info.run_id, "overrides.yaml"))
        assert f"seed={r.data.params['seed']}" in overrides
        assert f"model={r.data.params['model.name']}" in overrides
    # The whole sweep went to the store named by MLFLOW_TRACKING_URI, nothing to the project's.
    assert (tmp_path / "mlruns").is_dir()



@pytest.mark.filterwarnings("ignore:The specified dataset source can be interpreted")
def test_losing_the_race_to_insert_a_dataset_is_not_an_error(store):
    """Sweep jobs log the same dataset at once; MLflow looks a dataset up, then inserts it.

    The race is made to happen, deterministically: right before this job's insert reaches the
    database, a rival job (another run in the same store) inserts the same dataset and commits.
    """
    import mlflow
    import pandas as pd
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.store.tracking.dbmodels.models import SqlDataset
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from stancebench.tracking.runs import tracked_run
    from stancebench.tracking.store import StoreSettings, prepare_store

    settings = StoreSettings.from_config({"uri": store_uri(store), "artifact_location": str(store / "mlruns")})
    experiment_id = prepare_store(settings)
    c = client(store)
    rival = c.create_run(experiment_id)
    rows = sentences()[:4]
    frame = pd.DataFrame({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows],
                          "stance": [r["stance"] for r in rows]})
    dataset = mlflow.data.from_pandas(frame, source=str(DATASET), name="peace-talks-ar", targets="stance",
                                      digest="race-digest")
    raced = []

    def rival_inserts_first(session, flush_context, instances):
        if raced or not any(isinstance(obj, SqlDataset) for obj in session.new):
            return
        raced.append(True)
        c.log_inputs(rival.info.run_id, [DatasetInput(dataset._to_mlflow_entity(),
                                                      [InputTag("mlflow.data.context", "training")])])

    event.listen(Session, "before_flush", rival_inserts_first)
    try:
        with tracked_run(settings, "job", {}) as run:
            run.log_dataset(frame, "peace-talks-ar", str(DATASET), "race-digest", "stance", "training")
    finally:
        event.remove(Session, "before_flush", rival_inserts_first)
    assert raced, "the rival insert did not happen: the test lost its point"
    mine = c.get_run(run.run_id)
    assert mine.info.status == "FINISHED"
    assert [i.dataset.digest for i in mine.inputs.dataset_inputs] == ["race-digest"]
    assert [i.dataset.digest for i in c.get_run(rival.info.run_id).inputs.dataset_inputs] == ["race-digest"]


def test_a_train_test_pair_of_files_needs_no_plus_and_names_the_dataset_after_its_file(tmp_path, monkeypatch):
    from stancebench.experiment.data import prepare_data

    labels = ["favor", "against", "none"] * 4
    write_csv(tmp_path / "mawqif_train.csv", *csv_rows(labels))
    write_csv(tmp_path / "mawqif_test.csv", *csv_rows(labels[:6]))
    monkeypatch.chdir(tmp_path)  # split paths are found like a source: the current folder first
    data = prepare_data(spec_of(["data=csv", "data.splits.train=mawqif_train.csv",
                                     "data.splits.test=mawqif_test.csv"]))
    assert data.protocol == "holdout" and (len(data.train), len(data.eval)) == (12, 6)
    assert data.spec.name == "mawqif_train" and data.spec.source == str(tmp_path)
    single = prepare_data(spec_of(["data=csv", f"data.source={tmp_path / 'mawqif_test.csv'}"]))
    assert single.spec.name == "mawqif_test" and single.protocol == "loo"
    folder = tmp_path / "tweets"
    folder.mkdir()
    write_csv(folder / "train.csv", *csv_rows(labels))
    write_csv(folder / "test.csv", *csv_rows(labels[:6]))
    pair = prepare_data(spec_of(["data=csv", f"data.source={folder}", "data.splits.train=train.csv",
                                     "data.splits.test=test.csv"]))
    assert pair.spec.name == "tweets"  # generic split file names: the folder's name
