"""`python -m stancebench report`: leaderboard, significance, plots, error analysis, alias, HTML in a browser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from training_helpers import STANCE_LABELS, client, sentences, store_uri, train_cfg

CHROMIUM = shutil.which("chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EXPERIMENT = "report-test"

pytestmark = pytest.mark.slow  # six training runs (a tiny transformer and a tiny probe), a report, a browser


def _tiny(folder: Path) -> list[str]:
    return ["model=arabert", f"model.params.model_name_or_path={folder}", "model.params.preprocessing=none",
            "model.params.epochs=1", "model.params.batch_size=8"]


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_bert) -> Path:
    """One experiment: TF-IDF logreg (two seeds, and a run on 8 training items), TF-IDF SVM, a tiny BERT
    fine-tuned, and a probe on the tiny BERT's frozen embeddings."""
    from stancebench.experiment.train import train

    folder = tmp_path_factory.mktemp("report-store")
    # The 13 real seed sentences (k-fold), without further evaluation sets: one group; the grouping by
    # evaluation set is test_each_evaluation_set_is_a_group_and_upstream_text_stays_out.
    common = ["data=peace_talks_seed", "~data.eval_sets.fignews", "eval=kfold", "eval.k=3",
              f"tracking.experiment={EXPERIMENT}"]
    probe = ["model=e5_probe", f"model.params.model_name_or_path={tiny_bert}", "model.params.prefix="]
    runs = [["seed=0"], ["seed=1"], ["model=tfidf_svm"], ["max_train_samples=8"], _tiny(tiny_bert), probe]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STANCEBENCH_CACHE", str(folder / "cache"))  # the probe's embeddings
        for k, overrides in enumerate(runs):
            train(train_cfg(folder, *common, *overrides, out=f"out{k}"))
    return folder


@pytest.fixture(scope="module")
def report(store, tmp_path_factory):
    """The report, made through the CLI with an alias; returns (folder, report.json, stdout)."""
    from training_helpers import cli_env

    out = tmp_path_factory.mktemp("report-out") / "r"
    proc = _cli(store, "report", "--experiment", EXPERIMENT, "--tracking-uri", store_uri(store), "--output-dir",
                str(out), "--alias", "champion", "--resamples", "500", env=cli_env(store))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "report.json").read_text(encoding="utf-8")), proc.stdout


def _cli(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import sys

    return subprocess.run([sys.executable, "-m", "stancebench", *args], capture_output=True, text=True,
                          encoding="utf-8", cwd=cwd, env=env, timeout=300)


def _runs_by_model(store: Path) -> dict[tuple[str, int], list]:
    c = client(store)
    experiment = c.get_experiment_by_name(EXPERIMENT)
    found: dict[tuple[str, int], list] = {}
    for run in c.search_runs([experiment.experiment_id]):
        if "model" in run.data.tags:
            found.setdefault((run.data.tags["model"], int(run.data.params["n_train"])), []).append(run)
    return found


def _predictions(store: Path, run_id: str) -> dict[str, dict]:
    import mlflow

    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="predictions.jsonl",
                                               tracking_uri=store_uri(store))
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    return {r["id"]: r for r in rows}


def test_leaderboard_has_a_row_per_model_and_training_size_with_the_runs_scores(store, report):
    _, summary, _ = report
    assert len(summary["groups"]) == 1
    group = summary["groups"][0]
    assert (group["dataset"], group["task"], group["protocol"], group["main_score"]) == \
        ("peace-talks-ar-seed", "stance", "kfold", "f_avg")
    rows = {(r["model"], r["n_train"]): r for r in group["leaderboard"]}
    runs = _runs_by_model(store)
    assert set(rows) == set(runs) == {("tfidf_logreg", 13), ("tfidf_logreg", 8), ("tfidf_svm", 13), ("arabert", 13),
                                     ("e5_probe", 13)}
    for key, row in rows.items():
        assert sorted(row["runs"]) == sorted(r.info.run_id for r in runs[key])
        logged = [r.data.metrics["f_avg"] for r in runs[key]]
        # Every run of a row is scored on the same items as it was logged with: the mean is theirs.
        assert row["f_avg"]["mean"] == pytest.approx(np.mean(logged))
        assert row["macro_f1"]["mean"] == pytest.approx(np.mean([r.data.metrics["macro_f1"] for r in runs[key]]))
        if len(logged) > 1:
            assert row["f_avg"]["std"] == pytest.approx(np.std(logged, ddof=1))
        else:
            assert row["f_avg"]["std"] is None
        low, high = row["f_avg"]["ci"]
        assert 0.0 <= low <= high <= 1.0
        assert row["n_eval"] == int(runs[key][0].data.metrics["n_eval"])
    means = [r["f_avg"]["mean"] for r in group["leaderboard"]]
    assert means == sorted(means, reverse=True)


def test_significance_tests_each_family_against_the_best_tfidf_on_the_same_items(store, report):
    _, summary, stdout = report
    group = summary["groups"][0]
    # Learning-curve points (fewer training items) do not compete: the best full-data TF-IDF does.
    best_tfidf = next(r for r in group["leaderboard"] if r["family"] == "tfidf" and r["n_train"] == 13)
    comparisons = group["comparisons"]
    assert [(c["a"], c["b"], c["b_family"]) for c in comparisons] == \
        [(best_tfidf["model"], "arabert", "transformer"), (best_tfidf["model"], "e5_probe", "probe")]
    for comparison in comparisons:
        assert comparison["items"] == 13
        test = comparison["paired_bootstrap"]
        assert 0.0 < test["p_value"] <= 1.0
        assert test["delta"] == pytest.approx(test["a"] - test["b"])
        assert test["ci_low"] <= test["delta"] <= test["ci_high"]
        # McNemar counts, recomputed from the two runs' logged predictions.
        mcnemar = comparison["mcnemar"]
        a, b = _predictions(store, mcnemar["run_a"]), _predictions(store, mcnemar["run_b"])
        a_only = sum(1 for i in a if a[i]["predicted"] == a[i]["gold"] and b[i]["predicted"] != b[i]["gold"])
        b_only = sum(1 for i in a if b[i]["predicted"] == b[i]["gold"] and a[i]["predicted"] != a[i]["gold"])
        assert (mcnemar["a_only_correct"], mcnemar["b_only_correct"]) == (a_only, b_only)
        assert 0.0 < mcnemar["p_value"] <= 1.0
        assert f"{comparison['a']} vs {comparison['b']} p={test['p_value']:.3g}" in stdout
    assert "2 tests against the same TF-IDF row" in " ".join(group["notes"])  # multiplicity, said


def test_error_analysis_lists_every_miss_with_gold_and_annotator_votes(store, report):
    _, summary, _ = report
    group = summary["groups"][0]
    run_ids = [group["comparisons"][0]["mcnemar"]["run_a"]] + [c["mcnemar"]["run_b"] for c in group["comparisons"]]
    models = [group["comparisons"][0]["a"]] + [c["b"] for c in group["comparisons"]]
    predictions = [_predictions(store, run_id) for run_id in run_ids]
    missed = {i for i in predictions[0] if any(p[i]["predicted"] != p[i]["gold"] for p in predictions)}
    assert group["n_errors"] == len(missed) > 0
    assert {e["id"] for e in group["errors"]} == missed
    dataset = {s["id"]: s for s in sentences()}
    for error in group["errors"]:
        assert error["gold"] == dataset[error["id"]]["stance"]
        assert error["text"] == dataset[error["id"]]["text"]
        assert error["predicted"] == {m: p[error["id"]]["predicted"] for m, p in zip(models, predictions)}
        assert error["annotation"]["votes"] == dataset[error["id"]]["stance_votes"]
        assert error["annotation"]["agreement"] == dataset[error["id"]]["stance_agreement"]


def test_figures_are_written_including_the_learning_curve(report):
    folder, summary, _ = report
    figures = summary["groups"][0]["figures"]
    assert set(figures) == {"per_class_f1", "confusion", "learning_curve"}
    for name in figures.values():
        png = (folder / "figures" / name).read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 8000


def test_markdown_has_the_leaderboard_significance_and_figures(report):
    folder, summary, _ = report
    text = (folder / "report.md").read_text(encoding="utf-8")
    group = summary["groups"][0]
    assert "## peace-talks-ar-seed · stance · kfold" in text
    assert "**Significance.**" in text
    for comparison in group["comparisons"]:
        assert f"{comparison['a']} vs {comparison['b']} on the same" in text
        assert f"p = {comparison['paired_bootstrap']['p_value']:.3g}" in text
    for name in group["figures"].values():
        assert f"(figures/{name})" in text
    first_error = group["errors"][0]
    assert first_error["text"] in text


def test_html_is_self_contained(report):
    folder, summary, _ = report
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == len(summary["groups"][0]["figures"])
    assert "http://" not in page and "https://" not in page and "<link" not in page and "<script" not in page


def test_report_is_logged_to_mlflow_and_left_out_of_the_next_report(store, report, tmp_path):
    from training_helpers import cli_env

    c = client(store)
    experiment = c.get_experiment_by_name(EXPERIMENT)
    reports = [r for r in c.search_runs([experiment.experiment_id]) if r.data.tags.get("stancebench.kind") == "report"]
    assert len(reports) == 1 and reports[0].info.status == "FINISHED"
    names = {a.path for a in c.list_artifacts(reports[0].info.run_id)}
    assert {"report.md", "report.html", "report.json", "figures"} <= names
    again = _cli(store, "report", "--experiment", EXPERIMENT, "--tracking-uri", store_uri(store), "--output-dir",
                 str(tmp_path / "again"), "--resamples", "200", "--no-log", env=cli_env(store))
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((tmp_path / "again" / "report.json").read_text(encoding="utf-8"))["n_runs"] == 6


def test_alias_points_at_the_best_run_and_loads(store, report):
    import mlflow

    _, summary, stdout = report
    contenders = [r for r in summary["groups"][0]["leaderboard"] if (r["model"], r["n_train"]) != ("tfidf_logreg", 8)]
    top = max(r["f_avg"]["mean"] for r in contenders)
    version = client(store).get_model_version_by_alias("stancebench-stance", "champion")
    assert version.run_id in {run for r in contenders if r["f_avg"]["mean"] == top for run in r["runs"]}
    assert "alias champion: stancebench-stance" in stdout
    mlflow.set_tracking_uri(store_uri(store))
    model = mlflow.pyfunc.load_model("models:/stancebench-stance@champion")
    texts = [s["text"] for s in sentences()[:3]]
    assert set(model.predict(texts)["label"]) <= set(STANCE_LABELS)


# What the browser measures: each Arabic cell's computed direction, and where its first character is drawn.
PROBE = """<script>
const cells = [...document.querySelectorAll('td[lang="ar"]')].map(td => {
  const text = td.firstChild; const range = document.createRange();
  range.setStart(text, 0); range.setEnd(text, 1);
  const first = range.getBoundingClientRect(); const box = td.getBoundingClientRect();
  const pad = parseFloat(getComputedStyle(td).paddingRight);
  return {direction: getComputedStyle(td).direction, firstRight: first.right, contentRight: box.right - pad,
          firstLeft: first.left, contentLeft: box.left + parseFloat(getComputedStyle(td).paddingLeft)};
});
document.body.setAttribute('data-probe', JSON.stringify(cells));
</script></body>"""


def test_html_renders_arabic_right_to_left_in_a_headless_browser(report, tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (CI installs it with .ci/system-deps)")
    folder, summary, _ = report
    page = (folder / "report.html").read_text(encoding="utf-8")
    shot = tmp_path / "report.png"
    shown = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'p1'}",
         f"--screenshot={shot}", "--window-size=1400,2400", (folder / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr[-2000:]
    png = shot.read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 50_000  # tables, figures and Arabic text, not a blank page

    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", PROBE, 1), encoding="utf-8")
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'p2'}",
         "--window-size=1400,2400", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    group = summary["groups"][0]
    for row in group["leaderboard"]:
        assert f"<td>{row['model']}</td>" in dom.stdout
    assert group["errors"][0]["text"] in dom.stdout  # the Arabic sentence, as text in the rendered page
    import html as html_lib
    import re

    probe = json.loads(html_lib.unescape(re.search(r'data-probe="([^"]*)"', dom.stdout).group(1)))
    assert len(probe) == len(group["errors"])
    for cell in probe:
        assert cell["direction"] == "rtl"
        # Right to left: the first character sits at the cell's right edge, far from its left edge.
        assert abs(cell["firstRight"] - cell["contentRight"]) < 3, cell
        assert cell["firstLeft"] - cell["contentLeft"] > 50, cell


def test_run_without_predictions_is_one_clear_error(tmp_path):
    import mlflow

    from training_helpers import cli_env

    uri = store_uri(tmp_path)
    c = mlflow.MlflowClient(uri)
    experiment_id = c.create_experiment("broken", artifact_location=(tmp_path / "mlruns").as_uri())
    run = c.create_run(experiment_id, tags={"model": "tfidf_logreg", "task": "stance", "dataset": "peace-talks-ar"})
    c.set_terminated(run.info.run_id, "FINISHED")
    proc = _cli(tmp_path, "report", "--experiment", "broken", "--tracking-uri", uri, "--output-dir",
                str(tmp_path / "out"), env=cli_env(tmp_path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert run.info.run_id in lines[0] and "predictions" in lines[0] and "--exclude-run" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, expected", [
    (["--experiment", "nope"], "experiment 'nope' is not in"),
    (["--experiment", EXPERIMENT, "--task", "sentiment"], "no finished training runs"),
    (["--experiment", EXPERIMENT, "--resamples", "5"], "--resamples 5"),
    (["--experiment", EXPERIMENT, "--name", "../x"], "--name '../x'"),
])
def test_bad_report_arguments_are_one_clear_error(store, report, tmp_path, args, expected):
    from training_helpers import cli_env

    proc = _cli(store, "report", "--tracking-uri", store_uri(store), "--output-dir", str(tmp_path / "o"), *args,
                env=cli_env(store))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and expected in proc.stderr, proc.stderr


FIGNEWS_COPY = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fignews-2024" / \
    "FIGNEWS-2024-TEXT-IAA.tsv"


@pytest.mark.skipif(not FIGNEWS_COPY.is_file(), reason="../shared/datasets/fignews-2024 not present")
def test_each_evaluation_set_is_a_group_and_upstream_text_stays_out(tmp_path):
    """Runs scored on the seed and on FIGNEWS give one group per evaluation set; the FIGNEWS group's
    error table names sentences by id only (their text may not be redistributed)."""
    from stancebench.corpus.sources import (
        read_documents,
        read_source,
        segment_documents,
    )
    from stancebench.experiment.train import train
    from stancebench.report import UPSTREAM_TEXT

    from training_helpers import REPO, cli_env

    experiment = "report-eval-sets"
    for k, model in enumerate(("tfidf_logreg", "tfidf_svm")):
        train(train_cfg(tmp_path, f"model={model}", f"tracking.experiment={experiment}", out=f"o{k}"))
    out = tmp_path / "report"
    proc = _cli(tmp_path, "report", "--experiment", experiment, "--tracking-uri", store_uri(tmp_path),
                "--output-dir", str(out), "--no-log", "--resamples", "200", env=cli_env(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "report.json").read_text(encoding="utf-8"))
    groups = {(g["dataset"], g["eval_dataset"]): g for g in summary["groups"]}
    assert set(groups) == {("peace-talks-ar", "peace-talks-ar"), ("peace-talks-ar", "fignews-2024")}
    fignews = groups[("peace-talks-ar", "fignews-2024")]
    assert fignews["n_items"] >= 250
    assert all(e["text"] == UPSTREAM_TEXT for e in fignews["errors"]) and fignews["errors"]
    source = read_source(REPO / "data" / "sources" / "fignews-2024")
    texts = [s.text for s in segment_documents(read_documents(source, FIGNEWS_COPY)) if len(s.text) >= 20]
    written = "".join(p.read_text(encoding="utf-8") for p in out.rglob("*") if p.suffix in (".md", ".html", ".json"))
    assert not [t for t in texts if t in written]
    assert "## peace-talks-ar → fignews-2024 · stance · holdout" in (out / "report.md").read_text(encoding="utf-8")
    for group in groups.values():  # TF-IDF only: nothing to test against it, and the report says so
        assert group["comparisons"] == []
        assert "No significance test: it compares the best TF-IDF with the best row of each other family, and " \
               "this group has no run of another family." in group["notes"]


def test_the_report_names_a_store_inside_the_project_without_this_machines_path(tmp_path):
    from stancebench.paths import PROJECT_ROOT
    from stancebench.report import shown_store

    assert shown_store(f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}") == "sqlite:///mlflow.db (in the project)"
    assert str(PROJECT_ROOT) not in shown_store(f"sqlite:///{PROJECT_ROOT / 'stores' / 'a.db'}")
    outside = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert shown_store(outside) == outside  # a store elsewhere: the URI the user gave
    assert shown_store("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
