"""All MLflow calls of stancebench: store resolution, runs, params, metrics, artifacts, models, UI.

The embedded default store is ``sqlite:///<project>/mlflow.db`` with artifacts in ``<project>/mlruns``,
both absolute, so Hydra's per-run output folders never scatter runs.  ``MLFLOW_TRACKING_URI`` or
``tracking.uri`` point anywhere else, an ``http://`` server included; a server that does not answer
is reported within ``tracking.connect_timeout`` seconds.
"""

from __future__ import annotations

import logging
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

# MLflow announces the creation of a new SQLite store's tables on stderr; the store is ours to create.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)

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


def _env_secrets() -> list[str]:
    """Values of environment variables whose name looks secret (8+ characters), longest first."""
    return sorted({v for k, v in os.environ.items() if SECRET_KEY.search(k) and len(v) >= 8}, key=len, reverse=True)


def scrub(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every occurrence of an environment secret replaced by ``[redacted]``."""
    for secret in _env_secrets() if secrets is None else secrets:
        text = text.replace(secret, "[redacted]")
    return text


def redact(obj: Any, secrets: list[str] | None = None) -> Any:
    """Params, tags or a whole config (nested dicts and lists) with nothing secret left in them.

    A value whose key looks like a secret is blanked; environment secrets are scrubbed out of every
    string, including inside longer values (a URL with a token in it).
    """
    secrets = _env_secrets() if secrets is None else secrets
    if isinstance(obj, dict):
        return {k: "[redacted]" if SECRET_KEY.search(str(k)) else redact(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v, secrets) for v in obj]
    if isinstance(obj, str):
        return scrub(obj, secrets)
    return obj


def redact_override(override: str) -> str:
    """A command-line override ``key=value`` with a secret-looking key or an environment secret hidden."""
    key, sep, value = override.partition("=")
    if sep and SECRET_KEY.search(key):
        return f"{key}=[redacted]"
    return scrub(override)


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

    def __init__(self, run, local_dir: Path | None = None):
        self.run_id = run.info.run_id
        self.local_dir = local_dir  # the run's local copy of its outputs (see keep_locally)
        self._outputs_kept = False
        self._kept_model: tuple[Any, Any] | None = None

    def keep_locally(self, model=None, input_example=None) -> None:
        """Declare ``local_dir``'s files this run's results, written before anything is logged.

        Should the tracking server stop answering later in the run, ``model`` is saved there too
        (``local_dir/model``, the same flavour and format as :meth:`log_model`) and the error names
        the folder.
        """
        self._outputs_kept = True
        self._kept_model = None if model is None else (model, input_example)

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
        flavour, args = _model_flavour(model, input_example)
        return flavour.log_model(name="model", registered_model_name=registered_name, **args)


def save_model(model, input_example, path: Path) -> Path:
    """Save a fitted classifier as a local MLflow model folder, exactly as ``log_model`` logs it."""
    import shutil

    flavour, args = _model_flavour(model, input_example)
    if path.exists():  # a stale copy from an earlier run into the same output folder
        shutil.rmtree(path)
    flavour.save_model(path=str(path), **args)
    return path


def _model_flavour(model, input_example) -> tuple[Any, dict[str, Any]]:
    """The MLflow flavour module of a fitted classifier and the arguments its log/save take."""
    if model.family == "tfidf":
        return _sklearn_model_args(model, input_example)
    if model.family == "transformer":
        return _transformers_model_args(model, input_example)
    raise UserError(f"no MLflow flavour for model family {model.family!r}")


def _requirements(*packages: str) -> list[str]:
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in packages]


def import_flavour(family: str) -> None:
    """Import what logging a TF-IDF model needs (``train`` does it while a forked fit runs).

    Transformer models need nothing in advance: they are fitted in-process, torch already loaded.
    """
    if family == "tfidf":
        import mlflow.models
        import mlflow.sklearn  # noqa: F401

        from stancebench.lazy import import_without_torch

        import_without_torch("skops.io")  # mlflow imports it to save; keep torch out of a TF-IDF run


def _sklearn_model_args(model, input_example) -> tuple[Any, dict[str, Any]]:
    import mlflow
    import numpy as np
    from mlflow.models import infer_signature

    from stancebench.models.tfidf import TRUSTED_TYPES

    import_flavour("tfidf")
    predictions = np.asarray(model.pipeline_.predict(input_example), dtype=object)
    if hasattr(input_example, "columns"):  # target-aware: named "target" and "text" columns
        signature = infer_signature(input_example, predictions)
    else:  # one unnamed string column: a list, a numpy array or a one-column DataFrame all work
        from mlflow.models import ModelSignature
        from mlflow.types import ColSpec, Schema

        signature = ModelSignature(inputs=Schema([ColSpec("string")]), outputs=Schema([ColSpec("string")]))
        input_example = [str(t) for t in input_example]
    return mlflow.sklearn, dict(
        sk_model=model.pipeline_,
        serialization_format="skops",
        skops_trusted_types=TRUSTED_TYPES,
        signature=signature,
        input_example=input_example,
        # Explicit requirements: inferring them costs ~15 s and wrongly lists torch.
        pip_requirements=_requirements("scikit-learn", "skops", "numpy", "pandas", "scipy"),
        # The pipeline's ArabicNormalizer lives in stancebench: ship the package with the model.
        code_paths=[str(Path(__file__).resolve().parent)],
    )


def _transformers_model_args(model, input_example) -> tuple[Any, dict[str, Any]]:
    import mlflow

    if model.preprocessing != "none":
        return _preprocessed_transformer_args(model, input_example)
    return mlflow.transformers, dict(
        transformers_model=model.pipeline(),
        task="text-classification",
        # Truncate at training's max_length, for `predict` and for `mlflow models serve` alike.
        model_config={"truncation": True, "max_length": model.max_length},
        input_example=input_example,
        pip_requirements=_requirements("transformers", "torch", "tokenizers", "safetensors", "numpy", "pandas"),
    )


def _preprocessed_transformer_args(model, input_example) -> tuple[Any, dict[str, Any]]:
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
    return mlflow.pyfunc, dict(
        python_model=str(Path(__file__).resolve().parent / "models" / "served_transformer.py"),
        artifacts={"hf_model": str(folder)},
        model_config={"preprocessing": model.preprocessing, "model_name": model.model_name_or_path,
                      "max_length": model.max_length},
        code_paths=[str(Path(__file__).resolve().parent)],
        signature=signature,
        input_example=pd.DataFrame({"text": [str(t) for t in input_example]}),
        pip_requirements=_requirements("transformers", "torch", "tokenizers", "safetensors", "arabert", "pandas"),
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
def tracked_run(settings: StoreSettings, run_name: str | None, tags: dict[str, Any],
                local_dir: Path | None = None) -> Iterator[TrackedRun]:
    """Start a run; end it FINISHED, FAILED on an error, KILLED on Ctrl-C — never left RUNNING.

    A tracking server that stops answering during the run (``_server_gone``) is a :class:`UserError`
    naming the server, the run and ``local_dir``, where the run's results are kept (see
    :meth:`TrackedRun.keep_locally`); ending the run then costs one quick attempt, not a second
    traceback or minutes of retries.
    """
    if not is_primary_process():
        yield _RankRun()
        return
    import mlflow

    try:
        experiment_id = prepare_store(settings)
        run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                               tags={k: str(v) for k, v in redact(tags).items()})
    except _tracking_errors() as exc:
        problem = _server_gone(settings, exc)
        if problem is None:
            raise
        raise UserError(f"tracking server {settings.uri} stopped answering before the run started "
                        f"({problem}); start it again and rerun") from exc
    tracked = TrackedRun(run, local_dir)
    status, gone = "FAILED", False
    try:
        yield tracked
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except _tracking_errors() as exc:
        problem = _server_gone(settings, exc)
        if problem is None:
            raise
        gone = True
        raise UserError(_lost_server_message(settings, tracked, problem)) from exc
    finally:
        try:
            with _single_attempt(gone):
                mlflow.end_run(status)  # pops the active run before it calls the server
        except _tracking_errors() as exc:
            problem = None if gone else _server_gone(settings, exc)
            if not gone and problem is None:
                raise
            if not gone:  # everything was logged but the end: the server went away just now
                raise UserError(_lost_server_message(settings, tracked, problem)) from exc


def _tracking_errors() -> tuple[type[BaseException], ...]:
    """What MLflow's client raises when its server fails (requests' errors are OSErrors)."""
    import requests
    from mlflow.exceptions import MlflowException

    return (MlflowException, requests.exceptions.RequestException, ConnectionError)


def _server_gone(settings: StoreSettings, exc: BaseException) -> str | None:
    """Why the http(s) tracking server behind ``exc`` no longer serves the run; None when it does (or is
    local). A server that still answers ``/health`` but fails requests with a server error (its
    database is down, say) counts too: the user can do nothing about its traceback either."""
    if not _is_remote(settings.uri) or isinstance(exc, UserError):
        return None
    problem = _health_problem(settings.uri, min(settings.connect_timeout, 5.0))
    if problem is not None:
        return problem
    status = _server_error_status(exc)
    if status is None:
        return None
    return f"it answers /health but fails requests with HTTP {status}; is its backend store (database) down?"


def _server_error_status(exc: BaseException) -> int | None:
    """The HTTP status (>= 500) of a server-side failure behind ``exc``; None for anything else."""
    import requests
    from mlflow.exceptions import MlflowException, RestException

    if isinstance(exc, RestException):  # the server's own error response
        status = exc.get_http_status_code()
    elif isinstance(exc, (MlflowException, requests.exceptions.RetryError)):  # retried 5xx answers, given up
        match = re.search(r"too many (\d{3}) error responses", str(exc))
        status = int(match.group(1)) if match else None
    else:
        return None
    return status if status is not None and status >= 500 else None


def _lost_server_message(settings: StoreSettings, run: TrackedRun, problem: str) -> str:
    """The one-line error for a server lost mid-run; saves the kept model into ``run.local_dir`` first."""
    head = f"tracking server {settings.uri} stopped answering during run {run.run_id} ({problem})"
    if run.local_dir is None or not run._outputs_kept:
        return f"{head}; it stopped before the run had results: start the server again and rerun"
    kept = ["metrics", "predictions"]
    note = ""
    if run._kept_model is not None:
        model, example = run._kept_model
        try:
            save_model(model, example, run.local_dir / "model")
            kept.append("model")
        except Exception as exc:  # the error must still name the folder with the results
            note = f" (saving the model there failed: {' '.join(str(exc).split())[:200]})"
    what = ", ".join(kept[:-1]) + " and " + kept[-1]
    return f"{head}; this run's {what} are in {run.local_dir}{note}"


@contextmanager
def _single_attempt(enabled: bool) -> Iterator[None]:
    """MLflow HTTP calls without retries and with a short timeout, for a server known to be gone."""
    if not enabled:
        yield
        return
    names = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="3")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# MLflow 3.17's UI opens an experiment on its GenAI overview (traces, an assistant pane); this query
# parameter lands on the runs table in "Model training" mode (an experiment tag does not).
UI_WORKFLOW = "workflowType=machine_learning"


def ui_link(settings: "StoreSettings", host: str, port: int) -> str:
    """The UI address that opens the experiment's runs table in model-training mode."""
    base = f"http://{host}:{port}"
    experiment_id = None
    db = settings.uri.removeprefix("sqlite:///") if settings.uri.startswith("sqlite:///") else None
    if db is None or Path(db).is_file():  # a store not created yet has no experiment to point at
        import mlflow

        found = mlflow.MlflowClient(settings.uri).get_experiment_by_name(settings.experiment)
        experiment_id = found.experiment_id if found is not None else None
    if experiment_id is None:
        return f"{base}/#/experiments?{UI_WORKFLOW}"
    return f"{base}/#/experiments/{experiment_id}/runs?{UI_WORKFLOW}"


def serve_ui(host: str, port: int, tracking_uri: str | None, experiment: str | None = None,
             open_browser: bool = False) -> int:
    """Run ``mlflow ui`` on the project's store (foreground, until Ctrl-C); print (and with
    ``open_browser`` open, once it answers) the link to the experiment's training runs."""
    settings = StoreSettings.from_config({"uri": tracking_uri, **({"experiment": experiment} if experiment else {})})
    if _is_remote(settings.uri):
        raise UserError(f"{settings.uri} is already a server: open it in a browser instead of `stancebench ui`")
    link = ui_link(settings, host, port)
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", settings.uri,
               "--default-artifact-root", settings.artifact_location, "--host", host, "--port", str(port),
               "--workers", "1"]
    print(f"MLflow UI for {settings.uri}: {link} (Ctrl-C to stop)", flush=True)
    try:
        with subprocess.Popen(command, env=env) as server:  # as subprocess.call: waited for on the way out
            if open_browser:
                _open_when_up(f"http://{host}:{port}", link, server)
            return server.wait()
    except KeyboardInterrupt:
        return 0


def _open_when_up(base: str, link: str, server: "subprocess.Popen", timeout: float = 60.0) -> None:
    """Open ``link`` in the user's browser once the server at ``base`` answers /health (or give up quietly)."""
    import time
    import webbrowser

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        if _health_problem(base, 2.0) is None:
            webbrowser.open(link)
            return
        time.sleep(0.5)


# --- Reading runs back: `stancebench report` -------------------------------------------------------

REPORT_KIND_TAG = "stancebench.kind"


def training_runs(settings: StoreSettings) -> list:
    """Every FINISHED training run of the settings' experiment (report runs left out), oldest first."""
    check_reachable(settings)
    import mlflow

    client = mlflow.MlflowClient(settings.uri)
    experiment = client.get_experiment_by_name(settings.experiment)
    if experiment is None:
        names = sorted(e.name for e in client.search_experiments())
        raise UserError(f"experiment {settings.experiment!r} is not in {settings.uri}; "
                        f"pick one with --experiment ({', '.join(names) or 'none yet: train first'})")
    runs, token = [], None
    while True:
        page = client.search_runs([experiment.experiment_id], filter_string="attributes.status = 'FINISHED'",
                                  max_results=1000, order_by=["attributes.start_time ASC"], page_token=token)
        runs.extend(r for r in page if "model" in r.data.tags and REPORT_KIND_TAG not in r.data.tags)
        token = page.token
        if not token:
            return runs


def run_artifact_text(settings: StoreSettings, run_id: str, path: str) -> str | None:
    """A text artifact of a run, or None when the run has no such file."""
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory(prefix="stancebench-artifact-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=tmp,
                                                        tracking_uri=settings.uri)
        except (mlflow.exceptions.MlflowException, OSError):
            return None
        return Path(local).read_text(encoding="utf-8")


def log_report(settings: StoreSettings, name: str, files: list[Path], params: dict[str, Any]) -> str:
    """Log a report's files as the artifacts of a run of their own (tagged as a report); returns its id."""
    import mlflow

    experiment_id = prepare_store(settings)
    client = mlflow.MlflowClient(settings.uri)
    run = client.create_run(experiment_id, run_name=f"report-{name}", tags={REPORT_KIND_TAG: "report"})
    status = "FAILED"
    try:
        for key, value in redact(params).items():
            client.log_param(run.info.run_id, key, str(value)[:MAX_PARAM_LENGTH])
        for file in files:
            parent = file.parent.name if file.parent.name == "figures" else None
            client.log_artifact(run.info.run_id, str(file), parent)
        status = "FINISHED"
    finally:
        client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def set_model_alias(settings: StoreSettings, run_id: str, registered_name: str, alias: str) -> str:
    """Point ``alias`` of ``registered_name`` at the model of ``run_id``, registering it first if needed."""
    import mlflow

    client = mlflow.MlflowClient(settings.uri)
    versions = [v for v in client.search_model_versions(f"name = '{registered_name}'") if v.run_id == run_id]
    if versions:
        version = max(versions, key=lambda v: int(v.version)).version
    else:
        run = client.get_run(run_id)
        logged = client.search_logged_models([run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'")
        if not logged:
            raise UserError(f"run {run_id} has no logged model to register (trained with tracking.log_model=false?); "
                            "retrain it with the model logged, or leave it out with --exclude-run")
        mlflow.set_tracking_uri(settings.uri)
        version = mlflow.register_model(f"models:/{logged[-1].model_id}", registered_name).version
    client.set_registered_model_alias(registered_name, alias, version)
    return str(version)
