"""Helpers for the training-engine tests (test_config, test_train, test_protocols, test_scoring, test_ui).

Plain functions, no fixtures: each test module builds the fixtures it needs from these, so the
dataset tests' ``conftest.py`` stays theirs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "conf"
DATASET = REPO / "data" / "peace-talks-ar"
SENTENCES_FILE = DATASET / "data" / "sentences.jsonl"
ARSARCASM = REPO.parent / "shared" / "datasets" / "arsarcasm-v2"

STANCE_LABELS = ["favor", "against", "none"]
SENTIMENT_LABELS = ["positive", "negative", "neutral"]
USER_ERROR_PREFIX = "stancebench train: error:"


def sentences() -> list[dict[str, Any]]:
    """The labelled sentences of the committed dataset, in file order."""
    with open(SENTENCES_FILE, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def compose_cfg(overrides: list[str] | tuple[str, ...] = ()):
    """``conf/train.yaml`` composed by Hydra with ``overrides`` (no Hydra app, no run)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def store_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlflow.db'}"


def store_overrides(folder: Path, out: str = "out", resamples: int = 50) -> list[str]:
    """Overrides that keep a run's store, artifacts and outputs inside ``folder``."""
    return [
        f"tracking.uri={store_uri(folder)}",
        f"tracking.artifact_location={folder / 'mlruns'}",
        f"output_dir={folder / out}",
        f"eval.bootstrap_resamples={resamples}",
    ]


def train_cfg(folder: Path, *overrides: str, out: str = "out", resamples: int = 50):
    return compose_cfg([*store_overrides(folder, out, resamples), *overrides])


def client(folder_or_uri: Path | str):
    from mlflow import MlflowClient

    uri = folder_or_uri if isinstance(folder_or_uri, str) else store_uri(folder_or_uri)
    return MlflowClient(uri)


def runs_of(folder: Path, experiment: str = "stancebench") -> list:
    c = client(folder)
    exp = c.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} in {folder}"
    return c.search_runs([exp.experiment_id], max_results=1000)


def cli_env(folder: Path, **extra: str | None) -> dict[str, str]:
    """The environment of a CLI subprocess: its default store is a SQLite file in ``folder``."""
    env = dict(os.environ)
    env.pop("STANCEBENCH_DEBUG", None)
    env["MLFLOW_TRACKING_URI"] = store_uri(folder)
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_cli(folder: Path, *args: str, timeout: float = 120, **env: str | None) -> subprocess.CompletedProcess:
    """``python -m stancebench ARGS`` with cwd=``folder`` (Hydra's outputs/ land there)."""
    return subprocess.run(
        [sys.executable, "-m", "stancebench", *map(str, args)],
        cwd=folder, env=cli_env(folder, **env), capture_output=True, text=True, encoding="utf-8", timeout=timeout,
    )


def train_cli(folder: Path, *overrides: str, timeout: float = 120, **env: str | None) -> subprocess.CompletedProcess:
    # Flags such as -m must come before the overrides (argparse), so the artifact folder goes last.
    return run_cli(folder, "train", *overrides, f"tracking.artifact_location={folder / 'mlruns'}",
                   timeout=timeout, **env)


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def assert_user_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """One clear error line: non-zero exit, no traceback, last stderr line names ``fragments``."""
    report = f"exit {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    assert proc.returncode != 0, report
    assert "Traceback" not in proc.stderr, report
    line = last_line(proc.stderr)
    assert line.startswith(USER_ERROR_PREFIX), report
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}\n{report}"
    return line


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, limit: float = 150) -> None:
    """Return once ``url`` answers 200; fail the test (with the server's log) if ``proc`` exits or
    ``limit`` seconds pass first."""
    import time
    import urllib.request

    import pytest

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    pytest.fail(f"{url} did not answer within {limit:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    import csv

    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path
