"""`python -m stancebench ui`: the MLflow UI on the project's store, looked at with a real headless browser."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from training_helpers import cli_env, client, free_port, store_uri, train_cfg

CHROMIUM = shutil.which("chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.slow  # a training run, a server start (~10 s) and two browser loads (~8 s each)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ui-store")


@pytest.fixture(scope="module")
def run_ids(store) -> tuple[str, str]:
    """One finished stance run in a fresh store: (experiment id, run id)."""
    from stancebench.experiment.train import train

    result = train(train_cfg(store, "model=tfidf_svm", "data=peace_talks_seed", "~data.eval_sets.fignews", "eval=kfold",
                             "eval.k=3"))
    run = client(store).get_run(result["run_id"])
    assert run.info.status == "FINISHED" and "f_avg" in run.data.metrics
    return run.info.experiment_id, run.info.run_id


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


@pytest.fixture(scope="module")
def ui(store, run_ids, tmp_path_factory):
    """The UI server as a subprocess in its own process group, always torn down."""
    port = free_port()
    log = tmp_path_factory.mktemp("ui-log") / "ui.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stancebench", "ui", "--port", str(port), "--tracking-uri", store_uri(store)],
            cwd=store, env=cli_env(store), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def stop():
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        # Whatever the server started (uvicorn workers) shares its process group: nothing may survive it.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the UI exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if _get(f"{base}/health", timeout=2)[0] == 200:
                    break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no /health answer within 60 s:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield {"base": base, "port": port, "proc": proc, "log": log}
    finally:
        stop()


def listening_addresses(port: int) -> set[str]:
    """IPv4 addresses with a socket in LISTEN state on ``port`` (from /proc/net/tcp)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            next(f)
            for line in f:
                local, state = line.split()[1], line.split()[3]
                host, hex_port = local.split(":")
                if state != "0A" or int(hex_port, 16) != port:
                    continue
                if len(host) == 8:
                    found.add(".".join(str(b) for b in reversed(bytes.fromhex(host))))
                else:
                    found.add(f"ipv6:{host}")
    return found


def test_ui_binds_to_localhost_only(ui):
    if os.path.exists("/proc/net/tcp"):
        assert listening_addresses(ui["port"]) == {"127.0.0.1"}
    banner = ui["log"].read_text(errors="replace")
    assert f"on http://127.0.0.1:{ui['port']}" in banner


def test_ui_serves_the_runs_confusion_matrix_bytes(ui, run_ids, store):
    _, run_id = run_ids
    status, body = _get(f"{ui['base']}/get-artifact?path=confusion_matrix.png&run_uuid={run_id}")
    assert status == 200 and body.startswith(PNG_MAGIC)
    local = Path(client(store).download_artifacts(run_id, "confusion_matrix.png", str(store / "dl")))
    assert body == local.read_bytes()


def chromium(url: str, tmp_path: Path, *extra: str) -> str:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (CI installs it with .ci/system-deps)")
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", *extra, "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_browser_shows_the_runs_metrics(ui, run_ids, tmp_path):
    experiment_id, run_id = run_ids
    shot = tmp_path / "run.png"
    dom = chromium(f"{ui['base']}/#/experiments/{experiment_id}/runs/{run_id}", tmp_path,
                   f"--screenshot={shot}", "--window-size=1400,1000")
    assert "macro_f1" in dom
    assert "f_avg" in dom
    assert run_id in dom
    assert shot.is_file()
    png = shot.read_bytes()
    assert png.startswith(PNG_MAGIC)
    assert len(png) > 20_000  # a rendered page, not a blank one


def test_browser_shows_the_confusion_matrix_artifact(ui, run_ids, tmp_path):
    experiment_id, run_id = run_ids
    dom = chromium(f"{ui['base']}/#/experiments/{experiment_id}/runs/{run_id}/artifacts/confusion_matrix.png",
                   tmp_path)
    assert re.search(r'<img[^>]*\balt="confusion_matrix\.png"', dom), dom[-3000:]


def test_the_printed_link_lands_on_the_runs_table_in_model_training_mode(ui, run_ids, store, tmp_path):
    """MLflow 3.17 opens an experiment on its GenAI overview; the link `ui` prints opens the runs."""
    experiment_id, run_id = run_ids
    printed = ui["log"].read_text(errors="replace")
    match = re.search(r"(http://127\.0\.0\.1:\d+/#/experiments/(\d+)/runs\?workflowType=machine_learning)", printed)
    assert match, printed[-2000:]
    assert match.group(2) == experiment_id
    run_name = client(store).get_run(run_id).info.run_name
    landed = chromium(match.group(1), tmp_path / "link")
    assert run_name in landed  # the runs table lists the run
    assert "Observability" not in landed  # GenAI mode's navigation is not there
    overview = chromium(f"{ui['base']}/#/experiments/{experiment_id}", tmp_path / "plain")
    assert "Observability" in overview and run_name not in overview  # what the plain address shows


def test_ui_link_without_a_store_yet_points_at_the_experiments_list(tmp_path):
    from stancebench.tracking.store import StoreSettings
    from stancebench.tracking.ui import ui_link

    settings = StoreSettings.from_config({"uri": f"sqlite:///{tmp_path / 'none.db'}"})
    assert ui_link(settings, "127.0.0.1", 5000) == "http://127.0.0.1:5000/#/experiments?workflowType=machine_learning"
    assert not (tmp_path / "none.db").exists()  # printing the link creates no store
