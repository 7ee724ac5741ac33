"""Faults: real CLI processes ended by real signals in the middle of their work.

``kill -9`` during ``data build`` and during ``train``, and Ctrl-C (SIGINT) during ``train``.  The
``label`` case is ``test_label.py::test_kill_9_loses_no_answer_and_the_next_start_resumes_where_it_stopped``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from stancebench.corpus.articles import segment_corpus
from stancebench.corpus.dataset import DATASET_NAME, ProjectPaths, build

from conftest import folder_bytes
from training_helpers import cli_env, client, store_overrides

PYTHON = sys.executable

# ----------------------------------------------------------------- kill -9 during `data build`

# `stancebench data build`, run as the CLI runs it, that stops at a named point of its work (it writes
# ``paused`` beside the project and sleeps) so that the test kills it there and nowhere else.
PAUSING_BUILD = r"""
import os, pathlib, shutil, sys, time
from stancebench.corpus import dataset
from stancebench.cli import main

root, point = pathlib.Path(sys.argv[1]), sys.argv[2]

def pause():
    (root.parent / "paused").write_text(str(os.getpid()))
    time.sleep(300)

if point == "writing":  # half the files are in the staging folder
    write = dataset._write_text
    def _write_text(path, text):
        write(path, text)
        if path.name == "segments.jsonl":
            pause()
    dataset._write_text = _write_text
elif point == "between-renames":  # the old dataset is set aside, the new one not yet in place
    rename = pathlib.Path.rename
    def _rename(self, target):
        result = rename(self, target)
        if ".old-" in pathlib.Path(target).name:
            pause()
        return result
    pathlib.Path.rename = _rename
elif point == "before-cleanup":  # the new dataset is in place, the old one not yet removed
    rmtree = shutil.rmtree
    def _rmtree(path, *args, **kwargs):
        if ".old-" in pathlib.Path(path).name:
            pause()
        return rmtree(path, *args, **kwargs)
    shutil.rmtree = _rmtree
sys.exit(main(["data", "build", "--root", str(root)]))
"""

NEW_ARTICLE = (
    "قال المتحدث إن المحادثات ستستأنف الأسبوع المقبل في جنيف.\n"
    "ورحب الوزير بالمبادرة الجديدة للسلام.\n"
)


def add_article(root: Path) -> None:
    """A second article, labelled by both annotators: the next build differs from the current one."""
    (root / "seeds" / "001_geneva.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    ids = [s.id for s in segment_corpus(root / "seeds") if s.article_id == "001_geneva" and not s.boilerplate]
    assert len(ids) == 2
    for name in ("annotator_a", "annotator_b"):
        with open(root / "data" / "annotations" / f"{name}.jsonl", "a", encoding="utf-8") as f:
            for sid in ids:
                f.write(json.dumps({"id": sid, "stance": "favor", "sentiment": "positive"}) + "\n")


def wait_for_file(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"exited with {proc.returncode} before {path.name}:\n{proc.stderr.read()}"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.02)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "STANCEBENCH_DEBUG"}
    return subprocess.run([PYTHON, "-m", "stancebench", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          encoding="utf-8", timeout=120)


@pytest.mark.parametrize("point, survivor", [("writing", "old"), ("between-renames", "old"),
                                             ("before-cleanup", "new")])
def test_kill_9_during_data_build(built_project, tmp_path, point, survivor):
    """Whatever the moment of the kill, a complete dataset validates afterwards, and the next build
    succeeds and leaves nothing of the killed one behind."""
    output = ProjectPaths.under(built_project).output
    old = folder_bytes(output)
    add_article(built_project)
    new_paths = ProjectPaths.under(built_project)
    new = folder_bytes(Path(build(ProjectPaths(new_paths.seeds, new_paths.annotations, new_paths.adjudication,
                                               tmp_path / "expected"))["output"]))
    assert new != old

    with subprocess.Popen([PYTHON, "-c", PAUSING_BUILD, str(built_project), point], cwd=tmp_path,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        try:
            wait_for_file(built_project.parent / "paused", proc)
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
    leftovers = sorted(p.name for p in output.parent.glob(f".{DATASET_NAME}.*"))
    assert leftovers, "the kill came too late: the build had nothing left behind"

    checked = cli("data", "validate", str(output), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert folder_bytes(output) == (old if survivor == "old" else new)

    rebuilt = cli("data", "build", "--root", str(built_project), cwd=tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert folder_bytes(output) == new
    assert not list(output.parent.glob(f".{DATASET_NAME}.*")), "the killed build's files are still there"
    assert cli("data", "validate", str(output), cwd=tmp_path).returncode == 0


# ----------------------------------------------------------------- kill -9 and Ctrl-C during `train`


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """One SQLite store for both tests; the first `train` creates it."""
    return tmp_path_factory.mktemp("fault-store")


def start_train(store: Path, name: str, *overrides: str) -> subprocess.Popen:
    """``python -m stancebench train`` on ``store`` in the background, its output in ``NAME.log``."""
    with open(store / f"{name}.log", "w", encoding="utf-8") as log:
        return subprocess.Popen(
            [PYTHON, "-m", "stancebench", "train", *store_overrides(store, out=name), f"run_name={name}", *overrides],
            cwd=store, env=cli_env(store), stdout=log, stderr=subprocess.STDOUT,
            # As from a terminal: SIGINT raises KeyboardInterrupt even when this test runs under a
            # shell that started it with SIGINT ignored (a background job without job control).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def run_state(store: Path, name: str) -> dict | None:
    """What the store holds of the run named ``name`` so far (read with plain sqlite3)."""
    if not (store / "mlflow.db").exists():
        return None
    try:
        with closing(sqlite3.connect(f"file:{store / 'mlflow.db'}?mode=ro", uri=True, timeout=5)) as db:
            row = db.execute(
                "SELECT run_uuid, status, end_time FROM runs WHERE name = ? ORDER BY start_time DESC LIMIT 1", (name,)
            ).fetchone()
            if row is None:
                return None
            count = lambda table, column: db.execute(  # noqa: E731
                f"SELECT count(*) FROM {table} WHERE {column} = ?", (row[0],)).fetchone()[0]
            return {"run_id": row[0], "status": row[1], "end_time": row[2], "inputs": count("inputs", "destination_id"),
                    "metrics": count("latest_metrics", "run_uuid")}
    except sqlite3.OperationalError:  # tables not created yet, or locked for a moment by the writer
        return None


def wait_for_run(store: Path, name: str, proc: subprocess.Popen, ready, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = run_state(store, name)
        if state is not None and ready(state):
            return state
        if proc.poll() is not None:
            pytest.fail(f"train exited with {proc.returncode} first:\n{(store / f'{name}.log').read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"run {name!r} never reached the moment to stop it: {state}")
        time.sleep(0.02)


def test_kill_9_during_train_leaves_a_store_that_opens_and_takes_the_next_run(store):
    proc = start_train(store, "killed")
    try:
        # The run has just started in the store: params and the dataset are being written, fits come next.
        state = wait_for_run(store, "killed", proc, lambda s: s["status"] == "RUNNING")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with closing(sqlite3.connect(store / "mlflow.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    c = client(store)
    killed = c.get_run(state["run_id"])  # the store opens and reads
    assert killed.info.status == "RUNNING"  # nothing can end a run on SIGKILL; it was cut mid-run
    proc = start_train(store, "after-kill", "data=peace_talks_seed", "eval=kfold", "eval.k=2")
    assert proc.wait(timeout=180) == 0, (store / "after-kill.log").read_text()[-3000:]
    (after,) = [r for r in c.search_runs([killed.info.experiment_id]) if r.info.run_name == "after-kill"]
    assert after.info.status == "FINISHED"
    assert after.data.metrics["n_eval"] == 13 and after.data.params["seed"] == "0"
    assert "predictions.jsonl" in {a.path for a in c.list_artifacts(after.info.run_id)}
    assert len(after.outputs.model_outputs) == 1


def test_ctrl_c_during_train_ends_the_run_killed_and_exits_non_zero(store):
    proc = start_train(store, "interrupted")
    try:
        # The training data is logged and no score yet: the process is fitting the models.
        wait_for_run(store, "interrupted", proc, lambda s: s["status"] == "RUNNING" and s["inputs"] > 0)
        os.kill(proc.pid, signal.SIGINT)
        returncode = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = (store / "interrupted.log").read_text(encoding="utf-8")
    assert returncode == 130, output[-3000:]  # the CLI's status for an interrupt (128 + SIGINT)
    state = run_state(store, "interrupted")
    assert state["status"] == "KILLED", (state, output[-3000:])
    assert state["end_time"] is not None
    assert state["metrics"] == 0, "the interrupt came after the fits; the test lost its point"
    assert "Traceback" not in output, output[-3000:]
