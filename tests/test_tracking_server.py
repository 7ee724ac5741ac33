"""Training against a real MLflow tracking server over HTTP, backed by PostgreSQL.

``make test`` (and so CI) runs pytest through ``.ci/with-tracking-server``, which starts a throw-away
PostgreSQL cluster and an ``mlflow server`` on 127.0.0.1 and exports

- ``STANCEBENCH_TEST_SERVER_URI``: the server (``http://127.0.0.1:PORT``), artifacts proxied by it;
- ``STANCEBENCH_TEST_POSTGRES_URI``: its database (``postgresql+psycopg2://...``), whose user may
  create databases;
- ``STANCEBENCH_TEST_SERVER_ARTIFACTS``: the server's artifact folder.

Without them (plain ``pytest`` on a machine without PostgreSQL) these tests skip, unless
``STANCEBENCH_REQUIRE_SERVER=1`` (set by ``.ci/run``), where a missing server is a failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest
import yaml

from training_helpers import (
    STANCE_LABELS,
    USER_ERROR_PREFIX,
    compose_cfg,
    free_port,
    last_line,
    sentences,
    wait_for_http,
)

SERVER_VARIABLES = ("STANCEBENCH_TEST_SERVER_URI", "STANCEBENCH_TEST_POSTGRES_URI")


def _require(*names: str) -> list[str]:
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        reason = (f"{' and '.join(missing)} not set: no PostgreSQL-backed MLflow server; run the tests with "
                  "`make test` (or .ci/with-tracking-server COMMAND), which starts one")
        if os.environ.get("STANCEBENCH_REQUIRE_SERVER") == "1":
            pytest.fail(f"{reason} [STANCEBENCH_REQUIRE_SERVER=1]", pytrace=False)
        pytest.skip(reason)
    return [os.environ[n] for n in names]


@pytest.fixture(scope="module")
def server_uri() -> str:
    return _require("STANCEBENCH_TEST_SERVER_URI")[0]


@pytest.fixture(scope="module")
def postgres_uri() -> str:
    return _require("STANCEBENCH_TEST_POSTGRES_URI")[0]


def libpq(uri: str) -> str:
    """An SQLAlchemy ``postgresql+psycopg2://`` URI as psycopg2/libpq takes it."""
    scheme, rest = uri.split("://", 1)
    return f"postgresql://{rest}"


def with_database(uri: str, name: str) -> str:
    return urlunsplit(urlsplit(uri)._replace(path=f"/{name}"))


def connect(uri: str):
    import psycopg2

    conn = psycopg2.connect(libpq(uri), connect_timeout=5)
    conn.autocommit = True
    return conn


def query(uri_or_conn, sql: str, *args) -> list[tuple]:
    """Rows of ``sql``, on an open connection or on one opened (and closed) for it."""
    conn = connect(uri_or_conn) if isinstance(uri_or_conn, str) else uri_or_conn
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        if isinstance(uri_or_conn, str):
            conn.close()


# --- (a) a run over HTTP, read back over HTTP ---------------------------------------------------------


@pytest.fixture(scope="module")
def http_run(server_uri, tmp_path_factory):
    """The default experiment trained in-process against the CI server, in an experiment of its own.

    train() points MLflow (and MLFLOW_TRACKING_URI) at the server; what was there is put back after.
    """
    import mlflow

    from stancebench.experiment.train import train

    saved = os.environ.get("MLFLOW_TRACKING_URI")
    folder = tmp_path_factory.mktemp("http-run")
    experiment = f"ci-http-{uuid.uuid4().hex[:8]}"
    cfg = compose_cfg([f"tracking.uri={server_uri}", f"tracking.experiment={experiment}",
                       f"output_dir={folder / 'out'}", "eval.bootstrap_resamples=50"])
    try:
        yield cfg, train(cfg), experiment
    finally:
        mlflow.set_tracking_uri(None)  # also unsets MLFLOW_TRACKING_URI
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved


def test_a_run_over_http_is_stored_in_postgres_and_reads_back(server_uri, postgres_uri, http_run, tmp_path):
    from mlflow import MlflowClient

    _, result, experiment = http_run
    run_id = result["run_id"]
    client = MlflowClient(server_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.end_time is not None
    # Params: the flattened config, as with the local store.
    params = run.data.params
    assert params["model.params.C"] == "10.0" and params["task.name"] == "stance"
    assert params["protocol"] == "holdout" and int(params["n_train"]) >= 1500  # the written split
    assert params["tracking.experiment"] == experiment
    # Metrics, equal to what train() returned.
    metrics = run.data.metrics
    for name in ("accuracy", "macro_f1", "f_avg", "macro_f1_ci_low", "macro_f1_ci_high", "n_eval"):
        assert metrics[name] == pytest.approx(result["metrics"][name]), name
    # The server's database is PostgreSQL and holds the run.
    assert query(postgres_uri, "SELECT status FROM runs WHERE run_uuid = %s", run_id) == [("FINISHED",)]
    assert query(postgres_uri, "SELECT count(*) FROM metrics WHERE run_uuid = %s", run_id)[0][0] >= len(metrics)
    # Artifacts went through the server (mlflow-artifacts:/), not to a local folder of the client.
    assert client.get_experiment(run.info.experiment_id).artifact_location.startswith("mlflow-artifacts:")
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "overrides.yaml", "metrics.json", "classification_report.txt", "confusion_matrix.png",
            "predictions.jsonl"} <= names
    local = Path(result["output_dir"]) / "run"
    downloaded = Path(client.download_artifacts(run_id, "predictions.jsonl", str(tmp_path)))
    assert downloaded.read_bytes() == (local / "predictions.jsonl").read_bytes()
    rows = [json.loads(line) for line in downloaded.read_text("utf-8").splitlines()]
    assert [r["id"] for r in rows] == [s["id"] for s in sentences()]
    assert json.loads(Path(client.download_artifacts(run_id, "metrics.json", str(tmp_path))).read_text()) == \
        pytest.approx(result["metrics"])
    stored = os.environ.get("STANCEBENCH_TEST_SERVER_ARTIFACTS")
    if stored:  # the server's own artifact folder has the upload
        assert any(p.name == "predictions.jsonl" and run_id in p.parts for p in Path(stored).rglob("*.jsonl"))


def test_the_model_logged_over_http_loads_and_predicts_labels(server_uri, http_run):
    import mlflow

    _, result, _ = http_run
    mlflow.set_tracking_uri(server_uri)
    model = mlflow.pyfunc.load_model(f"runs:/{result['run_id']}/model")
    assert set(model.metadata.flavors) == {"python_function"}
    texts = [s["text"] for s in sentences()[:3]]
    predicted = model.predict(np.array(texts, dtype=object))["label"]
    assert len(predicted) == 3 and all(p in STANCE_LABELS for p in predicted)


# --- (b) the server goes away in the middle of a run -----------------------------------------------


def wait_for_health(url: str, proc: subprocess.Popen, log: Path, limit: float = 150) -> None:
    wait_for_http(f"{url}/health", proc, log, limit)


@pytest.fixture
def own_server(postgres_uri, tmp_path):
    """An MLflow server of this test's own, on a database of its own in the CI PostgreSQL, to kill."""
    name = f"stancebench_kill_{uuid.uuid4().hex[:12]}"
    admin = connect(with_database(postgres_uri, "postgres"))
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    database = with_database(postgres_uri, name)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "own-server.log"
    env = dict(os.environ, MLFLOW_BACKEND_STORE_URI=database, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
               MLFLOW_DISABLE_TELEMETRY="true")
    env.pop("MLFLOW_TRACKING_URI", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--artifacts-destination", str(tmp_path / "artifacts"),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for_health(url, proc, log)
        yield url, proc, database, log
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def wait_until(condition, what: str, trainer: subprocess.Popen, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if trainer.poll() is not None:
            out, err = trainer.communicate()
            pytest.fail(f"the trainer ended (exit {trainer.returncode}) before {what}:\n{out[-2000:]}\n{err[-4000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {limit:.0f} s")
        time.sleep(0.05)


def test_server_stopped_mid_run_fails_fast_and_keeps_the_results(own_server, tmp_path):
    """The server goes away while the trainer waits for it to log the run's metrics.

    The order of events is fixed, not left to timing: once the server has answered the run's
    dataset call (the trainer's last call before training and scoring), it is frozen (SIGSTOP), so
    nothing the run computes can reach it; when the trainer has written its local results it is
    blocked in its next call (logging the metrics), and the server is then killed (SIGKILL).
    The seconds from the kill to the trainer's exit are what a user waits for the error.
    """
    url, server, database, log = own_server
    out = tmp_path / "out"
    predictions = out / "run" / "predictions.jsonl"
    n_sentences = len(sentences())
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    for name in ("STANCEBENCH_DEBUG", "MLFLOW_TRACKING_URI", "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        env.pop(name, None)  # the project's own fast-fail settings apply
    trainer = subprocess.Popen(
        [sys.executable, "-m", "stancebench", "train", f"tracking.uri={url}", f"output_dir={out}",
         "run_name=server-goes-away", "eval.bootstrap_resamples=200"],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, encoding="utf-8",
    )
    db = connect(database)
    frozen = False
    try:
        # 1. The run exists and its dataset is logged, and the server has sent its answer.
        wait_until(lambda: '"POST /api/2.0/mlflow/runs/log-inputs HTTP/1.1" 200' in log.read_text(errors="replace"),
                   "dataset logged by the run", trainer)
        time.sleep(0.2)  # the answer's body follows its access-log line
        os.killpg(server.pid, signal.SIGSTOP)
        frozen = True
        ((run_id, status),) = query(db, "SELECT run_uuid, status FROM runs")
        assert status == "RUNNING"
        # 2. The trainer trains, scores and writes its results locally, then blocks on the frozen server.
        wait_until(lambda: predictions.exists() and predictions.read_text("utf-8").count("\n") == n_sentences,
                   "local predictions", trainer)
        # 3. The server dies.
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        killed = time.monotonic()
        stdout, stderr = trainer.communicate(timeout=120)
        seconds = time.monotonic() - killed
        # Nothing scored reached the server: the kill was in the middle of the run.
        assert query(db, "SELECT status FROM runs WHERE run_uuid = %s", run_id) == [("RUNNING",)]
        assert query(db, "SELECT count(*) FROM metrics WHERE run_uuid = %s", run_id) == [(0,)]
    finally:
        db.close()
        if frozen and server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait()

    report = f"exit {trainer.returncode} after {seconds:.1f} s\nstdout:\n{stdout[-2000:]}\nstderr:\n{stderr[-4000:]}"
    print(f"\nserver killed -> trainer exited in {seconds:.1f} s: {last_line(stderr)}")
    assert trainer.returncode == 2, report
    assert seconds < 30, report
    assert "Traceback" not in stderr, report
    line = last_line(stderr)
    assert line.startswith(USER_ERROR_PREFIX), report
    folder = out / "run"
    for fragment in (f"tracking server {url} stopped answering", f"during run {run_id}",
                     f"this run's metrics, predictions and model are in {folder}"):
        assert fragment in line, f"{fragment!r} not in {line!r}"
    # What the run computed is in that folder: metrics, predictions, and a loadable MLflow model.
    metrics = json.loads((folder / "metrics.json").read_text("utf-8"))
    assert metrics["n_eval"] == n_sentences and 0 <= metrics["macro_f1"] <= 1
    rows = [json.loads(line) for line in predictions.read_text("utf-8").splitlines()]
    assert [r["id"] for r in rows] == [s["id"] for s in sentences()]
    assert sum(r["gold"] == r["predicted"] for r in rows) / len(rows) == pytest.approx(metrics["accuracy"])
    mlmodel = yaml.safe_load((folder / "model" / "MLmodel").read_text())
    assert set(mlmodel["flavors"]) == {"python_function"}  # the same MLflow model log_model logs
    import mlflow

    model = mlflow.pyfunc.load_model(str(folder / "model"))
    predicted = list(model.predict(np.array([r["text"] for r in rows[:3]], dtype=object))["label"])
    assert len(predicted) == 3 and all(p in STANCE_LABELS for p in predicted)


def test_a_server_whose_database_goes_down_is_one_line_naming_it_and_the_local_results(own_server, tmp_path):
    """The server keeps answering /health, but its database refuses connections from the moment the
    run's dataset is logged: every later request fails with HTTP 500. One line, no traceback, and the
    run's results are in its local folder."""
    url, server, database, log = own_server
    name = database.rsplit("/", 1)[1].split("?", 1)[0]
    out = tmp_path / "out"
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    for key in ("STANCEBENCH_DEBUG", "MLFLOW_TRACKING_URI", "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
                "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        env.pop(key, None)
    trainer = subprocess.Popen(
        [sys.executable, "-m", "stancebench", "train", f"tracking.uri={url}", f"output_dir={out}",
         "run_name=database-goes-away", "eval.bootstrap_resamples=200"],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, encoding="utf-8",
    )
    admin = connect(with_database(database, "postgres"))
    try:
        wait_until(lambda: '"POST /api/2.0/mlflow/runs/log-inputs HTTP/1.1" 200' in log.read_text(errors="replace"),
                   "dataset logged by the run", trainer)
        with admin.cursor() as cur:  # the database goes away under the running server
            cur.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            assert response.status == 200  # the server itself still answers
        stdout, stderr = trainer.communicate(timeout=180)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        admin.close()
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait()
    report = f"exit {trainer.returncode}\nstdout:\n{stdout[-2000:]}\nstderr:\n{stderr[-4000:]}"
    assert trainer.returncode == 2, report
    assert "Traceback" not in stderr, report
    line = last_line(stderr)
    assert line.startswith(USER_ERROR_PREFIX), report
    for fragment in (f"tracking server {url}", "answers /health but fails requests with HTTP 5",
                     f"are in {out / 'run'}"):
        assert fragment in line, f"{fragment!r} not in {line!r}"
    metrics = json.loads((out / "run" / "metrics.json").read_text("utf-8"))
    assert 0 <= metrics["macro_f1"] <= 1
