"""`mlflow models serve` on a registered TF-IDF model answers raw Arabic sentences over HTTP with the
labels and probabilities of its run (the contract suite serves a target-aware transformer too)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from training_helpers import (
    STANCE_LABELS,
    client,
    free_port,
    sentences,
    store_uri,
    train_cfg,
)

START_DEADLINE_S = 240  # a cold start on a loaded 2-core machine takes ~30 s


def _stop(proc: subprocess.Popen, log) -> None:
    """End the server's whole process group (mlflow's CLI and the uvicorn it starts), then reap it."""
    try:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group outlived the polite request
        proc.wait(timeout=15)
    finally:
        log.close()


def _get(url: str, timeout: float = 2.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    """A stance model registered with the alias champion, served by ``mlflow models serve`` from the registry."""
    from stancebench.experiment.train import train

    store = tmp_path_factory.mktemp("serve-store")
    result = train(train_cfg(store, "eval=cross_dataset", "register=true", out="serve"))
    c = client(store)
    (version,) = [v.version for v in c.search_model_versions("name='stancebench-stance'")]
    c.set_registered_model_alias("stancebench-stance", "champion", version)
    logged = c.download_artifacts(result["run_id"], "predictions.jsonl", str(store / "logged"))
    predicted = {r["text"]: r for r in map(json.loads, Path(logged).read_text("utf-8").splitlines())}

    port = free_port()
    env = dict(os.environ, MLFLOW_TRACKING_URI=store_uri(store), MLFLOW_DISABLE_TELEMETRY="true",
               MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
               # mlflow starts the server as `bash -c "exec uvicorn ..."`: the venv's bin must be on PATH.
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    log_path = store / "serve.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/stancebench-stance@champion",
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=store, start_new_session=True,
    )
    request.addfinalizer(lambda: _stop(proc, log))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"mlflow models serve exited with {proc.returncode}:\n"
                        f"{log_path.read_text(errors='replace')[-3000:]}")
        try:
            if _get(f"{url}/ping") == 200:
                break
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"no answer on {url}/ping within {START_DEADLINE_S} s:\n"
                        f"{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)
    return {"url": url, "predicted": predicted, "proc": proc}


def invoke(url: str, payload: dict) -> tuple[int, dict]:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(f"{url}/invocations", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as response:
        return response.status, json.loads(response.read().decode("utf-8"))


@pytest.mark.slow
def test_served_model_labels_raw_arabic_sentences_like_the_run(server):
    texts = [s["text"] for s in sentences()]
    assert all(any("\u0600" <= ch <= "\u06ff" for ch in t) for t in texts)
    status, answer = invoke(server["url"], {"inputs": texts})
    assert status == 200
    rows = answer["predictions"]
    assert len(rows) == len(texts)
    assert {r["label"] for r in rows} <= set(STANCE_LABELS)
    for text, row in zip(texts, rows):  # the run's own predictions and probabilities of the same sentences
        logged = server["predicted"][text]
        assert row["label"] == logged["predicted"]
        assert row["probabilities"] == pytest.approx(logged["scores"], abs=1e-6)


@pytest.mark.slow
def test_served_model_normalises_like_training(server):
    plain = sentences()[0]["text"]
    voweled = plain.replace("قال", "قَالَ").replace("الرئيس", "الرَّئِيس")
    assert voweled != plain
    status, answer = invoke(server["url"], {"dataframe_split": {"columns": ["text"], "data": [[plain], [voweled]]}})
    assert status == 200
    assert answer["predictions"][0] == answer["predictions"][1]
    assert answer["predictions"][0]["label"] == server["predicted"][plain]["predicted"]
    assert server["proc"].poll() is None  # still serving
