"""All MLflow calls of stancebench: store resolution, runs, params, metrics, artifacts, models, UI.

The embedded default store is ``sqlite:///<project>/mlflow.db`` with artifacts in ``<project>/mlruns``,
both absolute, so Hydra's per-run output folders never scatter runs.  ``MLFLOW_TRACKING_URI`` or
``tracking.uri`` point anywhere else, an ``http://`` server included; a server that does not answer
is reported within ``tracking.connect_timeout`` seconds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

from stancebench.errors import UserError
from stancebench.paths import PROJECT_ROOT

SECRET_KEY = re.compile(r"(token|secret|password|passwd|api[_-]?key|credential|auth)", re.IGNORECASE)
MAX_PARAM_LENGTH = 6000

# Quiet, fast-failing MLflow defaults; a user's own settings win.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


@dataclass(frozen=True)
class StoreSettings:
    """Where runs go: tracking URI, experiment name and (for local stores) its artifact root."""

    uri: str
    experiment: str
    artifact_location: str | None
    connect_timeout: float = 5.0

    @classmethod
    def from_config(cls, tracking: Any) -> "StoreSettings":
        uri = resolve_tracking_uri(tracking.get("uri"))
        artifact_location = tracking.get("artifact_location")
        if not _is_remote(uri):
            artifact_location = Path(artifact_location or _default_artifact_root(uri)).expanduser().resolve().as_uri()
        return cls(uri, str(tracking.get("experiment", "stancebench")), artifact_location,
                   float(tracking.get("connect_timeout", 5)))


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
    import urllib.error
    import urllib.request

    url = settings.uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=settings.connect_timeout) as response:
            if response.status != 200:
                raise OSError(f"HTTP {response.status}")
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(
            f"tracking server {settings.uri} is unreachable ({reason}); start it, or use the local store "
            "with tracking.uri=null and MLFLOW_TRACKING_URI unset"
        ) from None


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


def flatten(config: dict, prefix: str = "") -> dict[str, Any]:
    """Nested config to ``{"a.b.c": value}``; lists stay whole (as their string form)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def redact(flat: dict[str, Any]) -> dict[str, Any]:
    """Drop values whose key looks like a secret, and any value equal to a secret in the environment."""
    secrets = {v for k, v in os.environ.items() if SECRET_KEY.search(k) and len(v) >= 8}
    out = {}
    for key, value in flat.items():
        if SECRET_KEY.search(key) or str(value) in secrets:
            out[key] = "[redacted]"
        else:
            out[key] = value
    return out


def git_state(root: Path = PROJECT_ROOT) -> tuple[str, bool | None]:
    """(commit, dirty) of the project checkout; ("unknown", None) outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=5, check=True).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


class TrackedRun:
    """Thin wrapper over the active MLflow run; every logging call of ``train`` goes through it."""

    def __init__(self, run):
        self.run_id = run.info.run_id

    def log_params(self, params: dict[str, Any]) -> None:
        import mlflow

        clean = {k: str(v)[:MAX_PARAM_LENGTH] for k, v in redact(params).items()}
        items = list(clean.items())
        for i in range(0, len(items), 100):  # the REST API takes at most 100 params per batch
            mlflow.log_params(dict(items[i:i + 100]))

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        import mlflow

        mlflow.log_artifacts(str(folder), artifact_path)

    def log_dataset(self, frame, name: str, source: str, digest: str, targets: str, context: str) -> None:
        import warnings

        import mlflow

        with warnings.catch_warnings():
            # MLflow registers its local-file source class twice and warns that a path is ambiguous.
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
            dataset = mlflow.data.from_pandas(frame, source=source, name=name, targets=targets, digest=digest)
        for attempt in range(3):
            try:
                mlflow.log_input(dataset, context=context)
                return
            except mlflow.exceptions.MlflowException as exc:
                # Parallel sweep jobs logging the same dataset into one experiment: MLflow looks the
                # dataset up, then inserts it, so a job can lose the race to another job's insert
                # (UNIQUE constraint failed).  The dataset exists by then; logging again links to it.
                message = str(exc).lower()
                if attempt == 2 or not any(m in message for m in ("unique constraint", "integrityerror",
                                                                  "duplicate")):
                    raise

    def log_model(self, model, input_example, registered_name: str | None = None):
        """Log a fitted classifier with its family's flavour (scikit-learn via skops for TF-IDF)."""
        if model.family == "tfidf":
            return _log_sklearn_model(model, input_example, registered_name)
        if model.family == "transformer":
            return _log_transformers_model(model, input_example, registered_name)
        raise UserError(f"no MLflow flavour for model family {model.family!r}")


def _requirements(*packages: str) -> list[str]:
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in packages]


def _log_sklearn_model(model, input_example, registered_name: str | None):
    import mlflow
    import numpy as np
    from mlflow.models import infer_signature

    from stancebench.lazy import import_without_torch
    from stancebench.models.tfidf import TRUSTED_TYPES

    import_without_torch("skops.io")  # mlflow imports it to save; keep torch out of a TF-IDF run

    predictions = np.asarray(model.pipeline_.predict(input_example), dtype=object)
    if hasattr(input_example, "columns"):  # target-aware: named "target" and "text" columns
        signature = infer_signature(input_example, predictions)
    else:  # one unnamed string column: a list, a numpy array or a one-column DataFrame all work
        from mlflow.models import ModelSignature
        from mlflow.types import ColSpec, Schema

        signature = ModelSignature(inputs=Schema([ColSpec("string")]), outputs=Schema([ColSpec("string")]))
        input_example = [str(t) for t in input_example]
    return mlflow.sklearn.log_model(
        model.pipeline_,
        name="model",
        serialization_format="skops",
        skops_trusted_types=TRUSTED_TYPES,
        signature=signature,
        input_example=input_example,
        # Explicit requirements: inferring them costs ~15 s and wrongly lists torch.
        pip_requirements=_requirements("scikit-learn", "skops", "numpy", "pandas", "scipy"),
        # The pipeline's ArabicNormalizer lives in stancebench: ship the package with the model.
        code_paths=[str(Path(__file__).resolve().parent)],
        registered_model_name=registered_name,
    )


def _log_transformers_model(model, input_example, registered_name: str | None):
    import mlflow

    if model.preprocessing != "none":
        return _log_preprocessed_transformer(model, input_example, registered_name)
    return mlflow.transformers.log_model(
        transformers_model=model.pipeline(),
        name="model",
        task="text-classification",
        input_example=input_example,
        pip_requirements=_requirements("transformers", "torch", "tokenizers", "safetensors", "numpy", "pandas"),
        registered_model_name=registered_name,
    )


def _log_preprocessed_transformer(model, input_example, registered_name: str | None):
    """A model whose preprocessing runs in Python: logged as code + a safetensors folder, no pickle."""
    import tempfile

    import mlflow
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    folder = Path(tempfile.mkdtemp(prefix="stancebench-hf-")) / "hf_model"
    model.model_.save_pretrained(folder)  # safetensors
    model.tokenizer_.save_pretrained(folder)
    signature = ModelSignature(inputs=Schema([ColSpec("string")]),
                               outputs=Schema([ColSpec("string", "label"), ColSpec("double", "score")]))
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(Path(__file__).resolve().parent / "models" / "served_transformer.py"),
        artifacts={"hf_model": str(folder)},
        model_config={"preprocessing": model.preprocessing, "model_name": model.model_name_or_path,
                      "max_length": model.max_length},
        code_paths=[str(Path(__file__).resolve().parent)],
        signature=signature,
        input_example=pd.DataFrame({"text": [str(t) for t in input_example]}),
        pip_requirements=_requirements("transformers", "torch", "tokenizers", "safetensors", "arabert", "pandas"),
        registered_model_name=registered_name,
    )


def is_primary_process() -> bool:
    """False on the non-zero ranks of a ``torchrun`` job: only rank 0 talks to MLflow."""
    return int(os.environ.get("RANK", "0")) == 0


class _RankRun:
    """Stands in for the MLflow run on the non-zero ranks of a distributed job: records nothing."""

    run_id = None

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


@contextmanager
def tracked_run(settings: StoreSettings, run_name: str | None, tags: dict[str, Any]) -> Iterator[TrackedRun]:
    """Start a run; end it FINISHED, FAILED on an error, KILLED on Ctrl-C — never left RUNNING."""
    if not is_primary_process():
        yield _RankRun()
        return
    experiment_id = prepare_store(settings)
    import mlflow

    run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                           tags={k: str(v) for k, v in redact(tags).items()})
    status = "FAILED"
    try:
        yield TrackedRun(run)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        mlflow.end_run(status)


def serve_ui(host: str, port: int, tracking_uri: str | None) -> int:
    """Run ``mlflow ui`` on the project's store (foreground, until Ctrl-C)."""
    settings = StoreSettings.from_config({"uri": tracking_uri})
    if _is_remote(settings.uri):
        raise UserError(f"{settings.uri} is already a server: open it in a browser instead of `stancebench ui`")
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", settings.uri,
               "--default-artifact-root", settings.artifact_location, "--host", host, "--port", str(port),
               "--workers", "1"]
    print(f"MLflow UI for {settings.uri} on http://{host}:{port} (Ctrl-C to stop)", flush=True)
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 0
