"""Concurrency: parallel sweep jobs on one fresh store, and two labelling sessions on one article.

Real processes only: a Hydra joblib multirun of four jobs at once, and two `stancebench label`
sessions of the same annotator driven through pseudo-terminals.
"""

from __future__ import annotations

from pathlib import Path

import pexpect
import pytest

from stancebench.corpus.annotation import read_annotator_file
from stancebench.corpus.articles import segment_corpus

from training_helpers import client, runs_of, train_cli

SCREEN_END = r"\[q\] quit"


# ----------------------------------------------------------------- two labelling sessions, one annotator


def screen(child: pexpect.spawn) -> str:
    """The next full screen the tool draws (fails if the session died instead)."""
    index = child.expect([SCREEN_END, pexpect.EOF])
    assert index == 0, f"the session ended instead of drawing a screen:\n{child.before[-2000:]}"
    return child.before.rsplit("\x1b[2J\x1b[H", 1)[-1]


def shown(text: str) -> tuple[str, str]:
    """(sentence shown, dimension asked) of a screen."""
    sentence = next(line[3:] for line in text.splitlines() if line.startswith(">> "))
    dim = "stance" if "STANCE toward" in text else "sentiment"
    return sentence, dim


def press(child: pexpect.spawn, key: str) -> str:
    child.send(key)
    return screen(child)


def test_two_sessions_of_one_annotator_on_the_same_article_keep_every_answer(spawn, project):
    """Both sessions show the same question; each answers it, then they go on in turn.

    Appending the second answer to a question that the other session has answered as a plain
    duplicate makes the annotator's file unreadable: that session dies at its next screen and every
    later `label` or `data build` fails on the file.  Every answer is kept instead, the later one to
    a question standing, and both sessions go on.
    """
    sentences = [s for s in segment_corpus(project / "seeds") if not s.boilerplate]
    s0, s1, s2 = sentences[0], sentences[1], sentences[2]
    a, b = spawn("ann"), spawn("ann")
    assert shown(screen(a)) == shown(screen(b)) == (s0.text, "stance")

    assert shown(press(a, "1")) == (s0.text, "sentiment")  # a: s0 stance favor
    assert shown(press(b, "2")) == (s0.text, "sentiment")  # b, from a stale screen: s0 stance against
    assert shown(press(a, "3")) == (s1.text, "stance")  # a: s0 sentiment neutral
    assert shown(press(b, "1")) == (s1.text, "stance")  # b, stale again: s0 sentiment positive
    assert shown(press(a, "2")) == (s1.text, "sentiment")  # a: s1 stance against
    assert shown(press(b, "s")) == (s2.text, "stance")  # b leaves s1 to a
    assert shown(press(b, "3")) == (s2.text, "sentiment")  # b: s2 stance none
    press(b, "2")  # b: s2 sentiment negative
    assert shown(press(a, "2"))[0] not in (s0.text, s1.text, s2.text)  # a: s1 sentiment negative
    for child in (a, b):
        child.send("q")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0

    ids = [s.id for s in sentences]
    final = read_annotator_file(project / "ann" / "ann.jsonl", ids).labels
    assert final["stance"] == {s0.id: "against", s1.id: "against", s2.id: "none"}
    assert final["sentiment"] == {s0.id: "positive", s1.id: "negative", s2.id: "negative"}
    # The earlier answers of the colliding questions are still on record in the log.
    log = (project / "ann" / "ann.jsonl").read_text(encoding="utf-8")
    assert '"stance": "favor"' in log and '"sentiment": "neutral"' in log
    # And a fresh session reads the file and resumes after the three sentences.
    c = spawn("ann")
    assert shown(screen(c)) == (sentences[3].text, "stance")
    assert "labelled 3/13" in c.before


# ----------------------------------------------------------------- four parallel sweep jobs


@pytest.mark.slow  # four jobs sharing the CPU: ~70-110 s on one busy core
def test_four_parallel_jobs_on_a_fresh_store_record_four_complete_runs(tmp_path):
    """Without the store being prepared once before the jobs start (PrepareTrackingStore), four jobs
    creating a fresh SQLite store's tables at once fail in MLflow's migrations."""
    assert not (tmp_path / "mlflow.db").exists()
    proc = train_cli(tmp_path, "-m", "seed=1,2,3,4", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4",
                     "data=peace_talks_seed", "~data.eval_sets.fignews", "eval=kfold", "eval.k=3",
                     "eval.bootstrap_resamples=20", timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    runs = runs_of(tmp_path)
    assert len(runs) == 4
    assert sorted(r.data.params["seed"] for r in runs) == ["1", "2", "3", "4"]
    assert all(r.info.status == "FINISHED" and r.info.end_time for r in runs)
    # The jobs really ran at once: no run had the store to itself.
    for r in runs:
        assert any(o.info.start_time < r.info.end_time and r.info.start_time < o.info.end_time
                   for o in runs if o is not r), f"run {r.info.run_id} ran alone"
    (sweep,) = {r.data.tags.get("sweep") for r in runs}
    assert sweep and Path(sweep).is_relative_to(tmp_path / "multirun")
    assert sorted(r.data.tags["sweep_job"] for r in runs) == ["0", "1", "2", "3"]
    c = client(tmp_path)
    for r in runs:
        run_id = r.info.run_id
        for name in ("accuracy", "macro_f1", "f_avg", "macro_f1_ci_low", "macro_f1_ci_high", "n_eval"):
            assert name in r.data.metrics, (run_id, name)
        assert r.data.metrics["n_eval"] == 13
        assert [i.dataset.name for i in r.inputs.dataset_inputs] == ["peace-talks-ar-seed"]
        artifacts = {a.path for a in c.list_artifacts(run_id)}
        assert {"config.yaml", "overrides.yaml", "metrics.json", "predictions.jsonl", "classification_report.txt",
                "confusion_matrix.png"} <= artifacts, (run_id, artifacts)
        predictions = Path(c.download_artifacts(run_id, "predictions.jsonl", str(tmp_path / "dl" / run_id)))
        assert len(predictions.read_text(encoding="utf-8").splitlines()) == 13
        (output,) = r.outputs.model_outputs
        model = c.get_logged_model(output.model_id)
        assert str(model.status) == "READY" and model.source_run_id == run_id, (run_id, model)
        model_files = {a.path for a in c.list_logged_model_artifacts(output.model_id)}
        assert "MLmodel" in model_files, (run_id, model_files)
