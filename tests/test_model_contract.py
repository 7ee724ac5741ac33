"""The contract every model family keeps, in the spirit of scikit-learn's ``parametrize_with_checks``.

Each family (TF-IDF logistic regression, TF-IDF SVM, the tiny BERT; target-aware variants of both
kinds) is fitted once on real Arabic sentences and then held to the same checks: ``fit`` returns
self, ``labels_`` sorted, scores shaped ``(n, n_labels)``, ``predict`` the argmax, the same seed the
same output, and the saved, logged and served forms (``load_folder``, ``mlflow.pyfunc``,
``stancebench predict``, ``mlflow models serve``) giving exactly the in-memory labels and values.
A new family is one more entry in ``FAMILIES``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from training_helpers import REPO, free_port, wait_for_http

WRITTEN = REPO / "data" / "sources" / "synthetic" / "written.jsonl"
TARGETS = ("peace talks", "ceasefire", "sanctions")


def corpus(per_label: int = 20) -> dict[str, list]:
    """Written sentences, ``per_label`` of each stance, and a stance target per sentence (three targets)."""
    rows, taken = [], {}
    for line in WRITTEN.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if taken.get(row["intended_stance"], 0) < per_label:
            taken[row["intended_stance"]] = taken.get(row["intended_stance"], 0) + 1
            rows.append(row)
    return {"texts": [r["text"] for r in rows], "labels": [r["intended_stance"] for r in rows],
            "targets": [TARGETS[i % len(TARGETS)] for i in range(len(rows))]}


def tfidf(**params):
    from stancebench.models.tfidf import TfidfClassifier

    return TfidfClassifier(**params)


def tiny_probe(folder: Path, **params):
    from stancebench.models.probe import EmbeddingProbe

    return EmbeddingProbe(model_name_or_path=str(folder), prefix="", batch_size=16, **params)


def tiny_transformer(folder: Path, **params):
    from stancebench.models.transformer import TransformerClassifier

    return TransformerClassifier(model_name_or_path=str(folder), preprocessing="none", epochs=1, batch_size=8,
                                 eval_batch_size=16, **params)


# name -> (builder taking the tiny BERT folder, target-aware?)
FAMILIES = {
    "tfidf_logreg": (lambda bert: tfidf(classifier="logreg", C=10.0, target_aware=False), False),
    "tfidf_svm": (lambda bert: tfidf(classifier="svm", C=0.5, target_aware=False), False),
    "tfidf_logreg_target_aware": (lambda bert: tfidf(classifier="logreg", target_aware=True), True),
    "tiny_bert": (lambda bert: tiny_transformer(bert, target_aware=False), False),
    "tiny_bert_target_aware": (lambda bert: tiny_transformer(bert, target_aware=True), True),
    "tiny_probe": (lambda bert: tiny_probe(bert, target_aware=False), False),
    "tiny_probe_target_aware": (lambda bert: tiny_probe(bert, target_aware=True), True),
}


@pytest.fixture(scope="module", autouse=True)
def embedding_cache(tmp_path_factory):
    """The probe's embedding cache in a throw-away folder, not the user's."""
    old = os.environ.get("STANCEBENCH_CACHE")
    os.environ["STANCEBENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("STANCEBENCH_CACHE", None)
    else:
        os.environ["STANCEBENCH_CACHE"] = old


@pytest.fixture(scope="module")
def data():
    return corpus()


@pytest.fixture(scope="module")
def fitted(tiny_bert, data):
    """Every family fitted once on the same data (targets given to all; only target-aware ones use them)."""
    cache = {}

    def get(name: str):
        if name not in cache:
            build, _ = FAMILIES[name]
            model = build(tiny_bert)
            returned = model.fit(data["texts"], data["labels"], data["targets"], seed=0)
            cache[name] = (model, returned)
        return cache[name][0], cache[name][1]

    return get


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    import mlflow

    folder = tmp_path_factory.mktemp("contract-store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.MlflowClient(uri).create_experiment("contract", artifact_location=(folder / "mlruns").as_uri())
    return {"folder": folder, "uri": uri, "experiment": experiment}


def scores_of(model, data):
    targets = data["targets"] if model.target_aware_ else None
    return model.predict_scores(data["texts"], targets)


families = pytest.mark.parametrize("name", list(FAMILIES))


@families
def test_fit_returns_self_with_sorted_labels(fitted, data, name):
    model, returned = fitted(name)
    assert returned is model
    assert model.labels_ == sorted(set(data["labels"]))
    assert model.target_aware_ is FAMILIES[name][1]


@families
def test_scores_are_one_row_per_text_and_one_column_per_label(fitted, data, name):
    model, _ = fitted(name)
    scores = scores_of(model, data)
    assert scores.shape == (len(data["texts"]), len(model.labels_))
    assert np.isfinite(scores).all()
    if model.score_kind == "probabilities":
        assert np.allclose(scores.sum(axis=1), 1.0, atol=1e-6)
    assert model.predict_scores([], [] if model.target_aware_ else None).shape == (0, len(model.labels_))


@families
def test_predict_is_the_argmax_of_the_scores(fitted, data, name):
    model, _ = fitted(name)
    targets = data["targets"] if model.target_aware_ else None
    scores = model.predict_scores(data["texts"], targets)
    assert model.predict(data["texts"], targets) == [model.labels_[i] for i in scores.argmax(axis=1)]


@families
def test_same_seed_same_output(fitted, tiny_bert, data, name):
    model, _ = fitted(name)
    again = FAMILIES[name][0](tiny_bert).fit(data["texts"], data["labels"], data["targets"], seed=0)
    np.testing.assert_array_equal(scores_of(again, data), scores_of(model, data))


@pytest.mark.parametrize("name", [n for n, (_, aware) in FAMILIES.items() if aware])
def test_a_target_aware_model_reads_the_target(fitted, data, name):
    model, _ = fitted(name)
    other = [TARGETS[(TARGETS.index(t) + 1) % len(TARGETS)] for t in data["targets"]]
    assert not np.allclose(model.predict_scores(data["texts"], other), scores_of(model, data))


@families
def test_saved_folder_loads_to_the_same_scores(fitted, data, tmp_path, name):
    from stancebench.models.base import load_folder

    model, _ = fitted(name)
    loaded = load_folder(model.save_folder(tmp_path / "classifier"))
    assert type(loaded) is type(model) and loaded.labels_ == model.labels_
    np.testing.assert_allclose(scores_of(loaded, data), scores_of(model, data), rtol=0, atol=1e-9)


def log(model, data, store, name: str) -> str:
    """Log ``model`` as the model of a fresh run (once per family); returns its runs:/ URI."""
    import mlflow

    logged = store.setdefault("logged", {})
    if name not in logged:
        with mlflow.start_run(experiment_id=store["experiment"], run_name=name) as run:
            model.log("model", input_example=model.input_example(data["texts"][:3], data["targets"][:3]))
        logged[name] = f"runs:/{run.info.run_id}/model"
    return logged[name]


@families
def test_logged_model_loads_through_pyfunc_to_the_in_memory_output(fitted, data, store, name):
    import mlflow.pyfunc

    model, _ = fitted(name)
    uri = log(model, data, store, name)
    served = mlflow.pyfunc.load_model(uri)
    out = served.predict(model.input_example(data["texts"], data["targets"]))
    assert list(out["label"]) == model.predict(data["texts"], data["targets"] if model.target_aware_ else None)
    values = np.array([[row[label] for label in model.labels_] for row in out[model.score_kind]])
    np.testing.assert_allclose(values, scores_of(model, data), rtol=0, atol=1e-9)


@families
def test_stancebench_predict_gives_the_in_memory_output(fitted, data, store, tmp_path, name):
    from stancebench.serve.predict import run_predict

    model, _ = fitted(name)
    uri = log(model, data, store, name)
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t, "target": g}, ensure_ascii=False) + "\n"
                            for i, (t, g) in enumerate(zip(data["texts"], data["targets"]))), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    run_predict(uri, input_path=path, output=out, batch_size=7, tracking_uri=store["uri"], progress=False)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["label"] for r in records] == model.predict(data["texts"], data["targets"] if model.target_aware_
                                                          else None)
    values = np.array([[r[model.score_kind][label] for label in model.labels_] for r in records])
    # Batches of 7 instead of the model's own batch size: a transformer's float32 sums then differ in the
    # last bits (~3e-8); anything past 1e-6 would be a different input or different weights.
    np.testing.assert_allclose(values, scores_of(model, data), rtol=0, atol=1e-6)


@pytest.mark.slow
def test_mlflow_models_serve_answers_a_target_aware_transformer_with_the_in_memory_output(fitted, data, store,
                                                                                       tmp_path):
    model, _ = fitted("tiny_bert_target_aware")
    uri = log(model, data, store, "tiny_bert_target_aware")
    port = free_port()
    env = dict(os.environ, MLFLOW_TRACKING_URI=store["uri"], MLFLOW_DISABLE_TELEMETRY="true",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    log_file = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager", "local",
                             "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
                            stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", proc, tmp_path / "serve.log", limit=240)
        records = [{"target": g, "text": t} for t, g in zip(data["texts"], data["targets"])]
        body = json.dumps({"dataframe_records": records}, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            rows = json.loads(response.read().decode("utf-8"))["predictions"]
    finally:
        import signal

        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log_file.close()
    assert [r["label"] for r in rows] == model.predict(data["texts"], data["targets"])
    values = np.array([[r["probabilities"][label] for label in model.labels_] for r in rows])
    np.testing.assert_allclose(values, scores_of(model, data), rtol=0, atol=1e-6)  # JSON round trip
