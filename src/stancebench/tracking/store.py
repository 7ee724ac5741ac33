"""Where runs go: the tracking store's URI, its artifact root, its experiment, and whether it answers.

The embedded default store is ``sqlite:///<project>/mlflow.db`` with artifacts in ``<project>/mlruns``,
both absolute, so Hydra's per-run output folders never scatter runs.  ``MLFLOW_TRACKING_URI`` or
``tracking.uri`` point anywhere else, an ``http://`` server included; a server that does not answer
is reported within ``tracking.connect_timeout`` seconds.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from stancebench.errors import UserError
from stancebench.paths import PROJECT_ROOT

MAX_PARAM_LENGTH = 6000

# MLflow announces the creation of a new SQLite store's tables on stderr; the store is ours to create.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)

# Quiet, fast-failing MLflow defaults; a user's own settings win.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar per model logged or loaded


@dataclass(frozen=True)
class StoreSettings:
    """Where runs go: tracking URI, experiment name and (for local stores) its artifact root."""

    uri: str
    experiment: str
    artifact_location: str | None
    connect_timeout: float = 5.0
    # How a user points this command at another store: train takes a config override, the other
    # commands a --tracking-uri option.
    way_out: str = "use the local store with tracking.uri=null and MLFLOW_TRACKING_URI unset"

    @classmethod
    def from_config(cls, tracking: Any, way_out: str | None = None) -> "StoreSettings":
        uri = resolve_tracking_uri(tracking.get("uri"))
        artifact_location = tracking.get("artifact_location")
        if not _is_remote(uri):
            artifact_location = Path(artifact_location or _default_artifact_root(uri)).expanduser().resolve().as_uri()
        timeout = tracking.get("connect_timeout", 5)
        try:
            timeout = float(timeout)
        except (TypeError, ValueError):
            timeout = -1.0
        if not timeout > 0:
            raise UserError(f"tracking.connect_timeout={tracking.get('connect_timeout')!r} must be a positive number "
                            "of seconds, e.g. tracking.connect_timeout=5")
        return cls(uri, str(tracking.get("experiment", "stancebench")), artifact_location, timeout,
                   *([way_out] if way_out else []))


def _default_artifact_root(uri: str) -> Path:
    """``mlruns`` beside a SQLite store file (the project root for the default store)."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):]).parent / "mlruns"
    return PROJECT_ROOT / "mlruns"


def _is_remote(uri: str) -> bool:
    return urlparse(uri).scheme in {"http", "https"}


def resolve_tracking_uri(configured: str | None = None) -> str:
    """Config value, else ``MLFLOW_TRACKING_URI``, else the project's SQLite store; made absolute."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        rel = uri[len("sqlite:///"):]
        return f"sqlite:///{Path(rel).expanduser().resolve()}"
    scheme = urlparse(uri).scheme
    if scheme in {"", "file"}:
        path = uri[len("file://"):] if scheme == "file" else uri
        return Path(path).expanduser().resolve().as_uri()
    return uri


def check_reachable(settings: StoreSettings) -> None:
    """Fail within ``connect_timeout`` seconds when an http(s) tracking server does not answer."""
    if not _is_remote(settings.uri):
        return
    reason = _health_problem(settings.uri, settings.connect_timeout)
    if reason is not None:
        raise UserError(
            f"tracking server {settings.uri} is unreachable ({reason}); start it, or {settings.way_out}"
        )


def _health_problem(uri: str, timeout: float) -> str | None:
    """Why the server at ``uri`` does not answer ``GET /health`` within ``timeout`` s (None: it does)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            if response.status != 200:
                return f"HTTP {response.status}"
    except (OSError, urllib.error.URLError) as exc:
        return " ".join(str(getattr(exc, "reason", exc)).split()) or type(exc).__name__
    return None


def prepare_store(settings: StoreSettings) -> str:
    """Create the store's tables and the experiment (once, before parallel jobs start); return its id."""
    check_reachable(settings)
    import mlflow

    mlflow.set_tracking_uri(settings.uri)
    client = mlflow.MlflowClient(settings.uri)
    experiment = client.get_experiment_by_name(settings.experiment)
    if experiment is not None:
        return experiment.experiment_id
    location = settings.artifact_location
    if location is not None:
        location = f"{location.rstrip('/')}/{re.sub(r'[^A-Za-z0-9_.-]+', '_', settings.experiment)}"
    try:
        return client.create_experiment(settings.experiment, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        # Another job created it between our lookup and our create.
        return client.get_experiment_by_name(settings.experiment).experiment_id

