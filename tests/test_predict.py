"""`stancebench predict`: every model URI form and input form, the output, each flavour, bad inputs.

The TF-IDF model is trained on all 13 sentences and scored on the same 13 (eval=cross_dataset), so
the run's logged predictions.jsonl holds the logged model's own labels and probabilities: predict
must reproduce them from the raw sentences, which it can only do with the training preprocessing.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training_helpers import (
    SENTIMENT_LABELS,
    STANCE_LABELS,
    client,
    sentences,
    store_uri,
    train_cfg,
    write_csv,
)

ERROR_PREFIX = "stancebench predict: error:"
PLAIN = "قال الكرملين إن بوتين مستعد للقاء ترامب"
VOWELED = "قَالَ الكرملين إِنَّ بوتين مستعدٌّ للقـــاء ترامب"  # diacritics and tatweel: normalised away


def logged_predictions(store: Path, run_id: str) -> dict[str, dict]:
    """The run's predictions.jsonl artifact, by sentence text."""
    local = client(store).download_artifacts(run_id, "predictions.jsonl", str(store / f"logged-{run_id}"))
    rows = [json.loads(line) for line in Path(local).read_text("utf-8").splitlines()]
    return {r["text"]: r for r in rows}


def predict_records(uri: str, store: Path, texts=(), input_path=None, **options) -> list[dict]:
    """The predict command in-process, its JSON lines parsed."""
    from stancebench.serve.predict import run_predict

    out = io.StringIO()
    run_predict(uri, texts, input_path, tracking_uri=store_uri(store), stream=out, **options)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def assert_like_logged(records: list[dict], logged: dict[str, dict], field: str = "probabilities",
                       tolerance: float = 2e-6) -> None:
    """Same label and (to the 6 decimals predictions.jsonl keeps) the same class values as the run logged."""
    assert records
    for record in records:
        row = logged[record["text"]]
        assert record["label"] == row["predicted"], record["text"]
        assert record[field] == pytest.approx(row["scores"], abs=tolerance), record["text"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("predict-store")


@pytest.fixture(scope="module")
def tfidf(store):
    """TF-IDF stance model (logreg), registered as stancebench-stance with the alias champion."""
    import mlflow

    from stancebench.experiment.train import train

    result = train(train_cfg(store, "eval=cross_dataset", "register=true", out="tfidf"))
    c = client(store)
    (version,) = [v.version for v in c.search_model_versions("name='stancebench-stance'")
                  if v.run_id == result["run_id"]]
    c.set_registered_model_alias("stancebench-stance", "champion", version)
    mlflow.set_tracking_uri(store_uri(store))
    folder = mlflow.artifacts.download_artifacts(f"runs:/{result['run_id']}/model", dst_path=str(store / "folder"))
    logged_model = c.get_logged_model(result["model_uri"].removeprefix("models:/"))
    return {**result, "version": str(version), "folder": folder, "artifact_uri": logged_model.artifact_location,
            "logged": logged_predictions(store, result["run_id"])}


@pytest.fixture(scope="module")
def tfidf_model(tfidf):
    from stancebench.serve.loading import open_model

    with open_model(tfidf["folder"]) as model:
        yield model


def uri_of(form: str, tfidf: dict) -> str:
    return {
        "runs": f"runs:/{tfidf['run_id']}/model",
        "registry-version": f"models:/stancebench-stance/{tfidf['version']}",
        "registry-alias": "models:/stancebench-stance@champion",
        "logged-model-id": tfidf["model_uri"],
        "downloaded-folder": tfidf["folder"],
        "artifact-folder-file-uri": tfidf["artifact_uri"],
    }[form]


@pytest.mark.parametrize("form", ["runs", "registry-version", "registry-alias", "logged-model-id",
                                  "downloaded-folder", "artifact-folder-file-uri"])
def test_every_model_uri_form_reproduces_the_runs_logged_predictions(store, tfidf, form):
    uri = uri_of(form, tfidf)
    if form == "artifact-folder-file-uri":
        assert uri.startswith("file://") and Path(uri.removeprefix("file://"), "MLmodel").is_file()
    texts = [s["text"] for s in sentences()]
    records = predict_records(uri, store, texts)
    assert [r["text"] for r in records] == texts
    assert_like_logged(records, tfidf["logged"])


def test_output_records_carry_id_text_label_and_probabilities_that_sum_to_one(store, tfidf):
    texts = [s["text"] for s in sentences()[:4]]
    records = predict_records(tfidf["folder"], store, texts)
    assert [r["id"] for r in records] == [0, 1, 2, 3]  # no id column: the position
    for record, text in zip(records, texts):
        assert set(record) == {"id", "text", "label", "probabilities"}
        assert record["text"] == text
        assert sorted(record["probabilities"]) == sorted(STANCE_LABELS)
        assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
        assert record["label"] == max(record["probabilities"], key=record["probabilities"].get)


def test_training_preprocessing_runs_before_the_model(tfidf_model):
    from stancebench.serve.inputs import Sentence
    from stancebench.serve.predict import predict_sentences

    plain, voweled = predict_sentences(tfidf_model, [Sentence(0, PLAIN), Sentence(1, VOWELED)])
    assert plain["text"] != voweled["text"]
    assert voweled["probabilities"] == plain["probabilities"]  # the pipeline's ArabicNormalizer ran


def test_batch_size_does_not_change_the_results(tfidf, tfidf_model):
    from stancebench.serve.inputs import Sentence
    from stancebench.serve.predict import predict_sentences

    items = [Sentence(i, s["text"]) for i, s in enumerate(sentences())]
    one_by_one = list(predict_sentences(tfidf_model, items, batch_size=1))
    at_once = list(predict_sentences(tfidf_model, items, batch_size=64))
    assert [r["id"] for r in one_by_one] == list(range(13))
    assert [r["label"] for r in one_by_one] == [r["label"] for r in at_once]
    for a, b in zip(one_by_one, at_once):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-12)


def test_text_file_input_one_sentence_per_line_with_line_numbers_as_ids(store, tfidf, tmp_path):
    texts = [s["text"] for s in sentences()[:3]]
    path = tmp_path / "news.txt"
    path.write_bytes(f"{texts[0]}\r\n\n   \n{texts[1]}\n  {texts[2]}  \n".encode("utf-8"))
    records = predict_records(tfidf["folder"], store, input_path=path)
    assert [r["id"] for r in records] == [0, 3, 4]  # blank lines are skipped, not renumbered
    assert [r["text"] for r in records] == texts
    assert_like_logged(records, tfidf["logged"])


def test_csv_input_with_id_target_and_a_renamed_text_column(store, tfidf, tmp_path):
    rows = sentences()[:3]
    path = write_csv(tmp_path / "news.csv", ["sid", "sentence", "target"],
                     [[r["id"], r["text"], "peace talks"] for r in rows])
    records = predict_records(tfidf["folder"], store, input_path=path, text_column="sentence", id_column="sid")
    assert [r["id"] for r in records] == [r["id"] for r in rows]
    assert [r["target"] for r in records] == ["peace talks"] * 3
    assert_like_logged(records, tfidf["logged"])


def test_csv_fields_with_commas_quotes_and_newlines_stay_one_sentence(store, tfidf, tmp_path):
    tricky = f'{PLAIN}، "قال"\nثم أضاف, بعد ذلك'
    path = write_csv(tmp_path / "tricky.csv", ["text"], [[tricky], [PLAIN]])
    records = predict_records(tfidf["folder"], store, input_path=path)
    assert [r["id"] for r in records] == [0, 1]  # no id column: the data row
    assert [r["text"] for r in records] == [tricky, PLAIN]


def test_jsonl_input_keeps_its_ids_and_writes_the_output_file_whole(store, tfidf, tmp_path):
    rows = sentences()[3:6]
    path = tmp_path / "news.jsonl"
    path.write_text("\n".join(json.dumps({"id": r["id"], "body": r["text"]}, ensure_ascii=False) for r in rows)
                    + "\n\n", encoding="utf-8")
    output = tmp_path / "out" / "labels.jsonl"
    output.parent.mkdir()
    output.write_text("stale content\n", encoding="utf-8")
    records = predict_records(tfidf["folder"], store, input_path=path, text_column="body", output=output)
    assert records == []  # nothing on the stream: everything went to the file
    written = [json.loads(line) for line in output.read_text("utf-8").splitlines()]
    assert [r["id"] for r in written] == [r["id"] for r in rows]
    assert_like_logged(written, tfidf["logged"])
    assert sorted(p.name for p in output.parent.iterdir()) == ["labels.jsonl"]  # no temporary file left


def test_progress_bar_only_on_request_or_on_a_terminal_with_several_batches(store, tfidf, capsys):
    from stancebench.serve.predict import show_progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert show_progress(200, 64, None, Terminal())
    assert not show_progress(64, 64, None, Terminal())  # one batch: no bar
    assert not show_progress(200, 64, None, io.StringIO())  # not a terminal: no bar
    assert not show_progress(200, 64, False, Terminal())
    texts = [s["text"] for s in sentences()]
    predict_records(tfidf["folder"], store, texts, batch_size=4, progress=True)
    assert "13/13" in capsys.readouterr().err
    predict_records(tfidf["folder"], store, texts, batch_size=4)  # pytest's stderr is no terminal
    assert "13/13" not in capsys.readouterr().err


def test_target_aware_model_reads_the_target_column(store, tfidf, tmp_path):
    """A stance model trained on (target, sentence) pairs needs the target; the same sentence under two
    targets gets two different probability vectors."""
    from stancebench.errors import UserError
    from stancebench.experiment.train import train

    rows = sentences()
    data = write_csv(tmp_path / "targets.csv", ["id", "text", "target", "stance"],
                     [[r["id"], r["text"], ["peace talks", "elections"][i % 2], r["stance"]]
                      for i, r in enumerate(rows)])
    result = train(train_cfg(store, "data=csv", f"data.source={data}", "eval=kfold", "eval.k=2", out="targets"))
    uri = f"runs:/{result['run_id']}/model"
    with pytest.raises(UserError, match="target-aware.*--target"):
        predict_records(uri, store, [PLAIN])
    path = write_csv(tmp_path / "pairs.csv", ["text", "target"], [[PLAIN, "peace talks"], [PLAIN, "elections"]])
    first, second = predict_records(uri, store, input_path=path)
    assert (first["target"], second["target"]) == ("peace talks", "elections")
    assert first["probabilities"] != pytest.approx(second["probabilities"], abs=1e-6)
    (only,) = predict_records(uri, store, [PLAIN], target="elections")  # --target for argument input
    assert only["probabilities"] == pytest.approx(second["probabilities"], abs=1e-12)


def test_registry_mistakes_name_what_exists(store, tfidf):
    from stancebench.errors import UserError

    with pytest.raises(UserError, match=r"no version 7 \(versions: 1\)"):
        predict_records("models:/stancebench-stance/7", store, [PLAIN])
    with pytest.raises(UserError, match="logged model 'm-0{32}' does not exist"):
        predict_records("models:/m-" + "0" * 32, store, [PLAIN])


def test_svm_model_reports_decision_scores_not_probabilities(store, tfidf, tmp_path):
    from stancebench.experiment.train import train

    result = train(train_cfg(store, "model=tfidf_svm", "eval=cross_dataset", out="svm"))
    records = predict_records(f"runs:/{result['run_id']}/model", store, [s["text"] for s in sentences()])
    assert all(set(r) == {"id", "text", "label", "scores"} for r in records)
    assert_like_logged(records, logged_predictions(store, result["run_id"]), field="scores")


# ------------------------------------------------------------------------------------ transformers


@pytest.fixture(scope="module")
def transformer_runs(store, tiny_bert):
    """The tiny BERT fine-tuned for one epoch twice: on raw text and with AraBERT preprocessing; each
    scored on its own training sentences."""
    from stancebench.experiment.train import train

    runs = {}
    for preprocessing in ("none", "arabert"):
        result = train(train_cfg(
            store, "task=sentiment", "model=arabert", f"model.params.model_name_or_path={tiny_bert}",
            f"model.params.preprocessing={preprocessing}", "model.params.epochs=1", "model.params.batch_size=8",
            "eval=cross_dataset", out=f"bert-{preprocessing}"))
        runs[preprocessing] = {**result, "logged": logged_predictions(store, result["run_id"])}
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("preprocessing", ["none", "arabert"])
def test_transformer_model_gives_every_class_probability_as_in_training(store, transformer_runs, preprocessing):
    import mlflow
    from mlflow.models import Model

    run = transformer_runs[preprocessing]
    uri = f"runs:/{run['run_id']}/model"
    folder = mlflow.artifacts.download_artifacts(uri, dst_path=str(store / f"m-{preprocessing}"))
    assert set(Model.load(folder).flavors) == {"python_function"}  # one served form for every family
    texts = [s["text"] for s in sentences()]
    records = predict_records(uri, store, texts, batch_size=5)
    for record in records:
        assert sorted(record["probabilities"]) == sorted(SENTIMENT_LABELS)
        assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    # Padding differs from training's batches (float noise ~1e-7); sentences differ by ~1e-5 even in this
    # barely trained model, so agreeing to 2e-6 means the same input ids reached the same weights.
    assert_like_logged(records, run["logged"], tolerance=2e-6)
    spread = max(max(r["probabilities"][k] for r in records) - min(r["probabilities"][k] for r in records)
                 for k in SENTIMENT_LABELS)
    assert spread > 5e-6, "the sentences' probabilities are too alike for this comparison to mean anything"


@pytest.mark.slow
def test_served_arabert_model_strips_diacritics_before_the_encoder(store, transformer_runs):
    plain, voweled = predict_records(f"runs:/{transformer_runs['arabert']['run_id']}/model", store,
                                     [PLAIN, VOWELED.replace("ـ", "")])
    assert voweled["probabilities"] == plain["probabilities"]


# -------------------------------------------------------------------------------- the command line


def run_predict_cli(store: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in {"STANCEBENCH_DEBUG", "MLFLOW_TRACKING_URI"}}
    full_env.update(MLFLOW_DISABLE_TELEMETRY="true", **env)
    return subprocess.run([sys.executable, "-m", "stancebench", "predict", *args], capture_output=True,
                          env=full_env, cwd=store, timeout=180)


def test_cli_prints_one_json_line_per_sentence_and_nothing_else(store, tfidf):
    texts = [s["text"] for s in sentences()[:2]]
    proc = run_predict_cli(store, "--model", "models:/stancebench-stance@champion", "--tracking-uri",
                           store_uri(store), *texts)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, stderr[-3000:]
    records = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    assert [r["text"] for r in records] == texts
    assert_like_logged(records, tfidf["logged"])


def cp1256(path: Path) -> Path:
    path.write_bytes(PLAIN.encode("cp1256"))
    return path


# Each case: (arguments, fragments the one error line must contain).  The model is a valid one,
# except where the model URI is the point; inputs are checked before MLflow is even imported.
BAD_INPUTS = {
    "missing-local-path": (["--model", "{tmp}/no-model-here", PLAIN], ["{tmp}/no-model-here does not exist",
                                                                       "runs:/"]),
    "empty-input-file": (["--model", "{folder}", "--input", "{tmp}/empty.txt"], ["{tmp}/empty.txt", "empty"]),
    "csv-without-text-column": (["--model", "{folder}", "--input", "{tmp}/no-text.csv"],
                                ["no column 'text'", "sentence", "--text-column"]),
    "non-utf8-input": (["--model", "{folder}", "--input", "{tmp}/cp1256.txt"],
                       ["{tmp}/cp1256.txt:1", "not valid UTF-8", "UTF-8"]),
    "no-input": (["--model", "{folder}"], ["no input", "--input FILE"]),
}
# The URIs that only the tracking store can refute.
BAD_MODEL_URIS = {
    "unknown-run": (["--model", "runs:/0123456789abcdef0123456789abcdef/model", PLAIN],
                    ["'0123456789abcdef0123456789abcdef' does not exist", "--tracking-uri"]),
    "unknown-registered-name": (["--model", "models:/no-such-model/1", PLAIN],
                                ["'no-such-model' does not exist", "stancebench-stance", "register=true"]),
    "unknown-alias": (["--model", "models:/stancebench-stance@nope", PLAIN],
                      ["no alias 'nope'", "champion", "set_registered_model_alias"]),
}
# One Python process answers all of BAD_MODEL_URIS through the CLI's main() (exit status = its return
# value, as in __main__), paying MLflow's import once instead of once per case.
CLI_CASES_DRIVER = """
import contextlib, io, json, sys
from stancebench.cli import main
results = {}
for name, argv in json.loads(sys.argv[1]).items():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    results[name] = [code, out.getvalue(), err.getvalue()]
sys.stdout.write(json.dumps(results))
"""


def assert_one_error_line(code: int, stdout: str, stderr: str, fragments: list[str]) -> None:
    report = f"exit {code}\nstdout:\n{stdout[-1000:]}\nstderr:\n{stderr[-3000:]}"
    assert code == 2, report
    assert "Traceback" not in stderr, report
    assert stdout == "", report
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX), report
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_error_line_and_exit_status_2(store, tfidf, tmp_path, case):
    (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
    write_csv(tmp_path / "no-text.csv", ["id", "sentence"], [["1", PLAIN]])
    cp1256(tmp_path / "cp1256.txt")
    args, fragments = BAD_INPUTS[case]
    fill = lambda s: s.format(tmp=tmp_path, folder=tfidf["folder"])  # noqa: E731
    proc = run_predict_cli(store, *map(fill, args), "--tracking-uri", store_uri(store))
    assert_one_error_line(proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8"),
                          [fill(f) for f in fragments])


@pytest.fixture(scope="module")
def bad_uri_answers(store, tfidf) -> dict:
    argvs = {name: ["predict", *args, "--tracking-uri", store_uri(store)] for name, (args, _) in BAD_MODEL_URIS.items()}
    env = {k: v for k, v in os.environ.items() if k not in {"STANCEBENCH_DEBUG", "MLFLOW_TRACKING_URI"}}
    proc = subprocess.run([sys.executable, "-c", CLI_CASES_DRIVER, json.dumps(argvs)], capture_output=True,
                          text=True, encoding="utf-8", env=env, cwd=store, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("case", list(BAD_MODEL_URIS))
def test_unknown_model_uri_is_one_error_line_and_exit_status_2(bad_uri_answers, case):
    code, stdout, stderr = bad_uri_answers[case]
    assert_one_error_line(code, stdout, stderr, BAD_MODEL_URIS[case][1])


def test_debug_mode_shows_the_traceback(store, tfidf):
    proc = run_predict_cli(store, "--model", tfidf["folder"], STANCEBENCH_DEBUG="1")
    assert proc.returncode != 0
    assert b"Traceback" in proc.stderr and b"UserError: no input" in proc.stderr
