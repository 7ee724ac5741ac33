"""A training run's life in MLflow: started, logged to, and always ended FINISHED, FAILED or KILLED.

A tracking server that goes away mid-run is one error line naming the server and the local folder
that holds the run's results (and, saved there, its model).
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from stancebench.errors import UserError
from stancebench.tracking.redaction import redact
from stancebench.tracking.store import (
    MAX_PARAM_LENGTH,
    StoreSettings,
    _health_problem,
    _is_remote,
    prepare_store,
)


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
        (``local_dir/model``, the same MLflow model as :meth:`log_model` logs) and the error names
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

    def set_tags(self, tags: dict[str, Any]) -> None:
        import mlflow

        mlflow.set_tags({k: str(v) for k, v in redact(tags).items()})

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
        """Log a fitted classifier as this run's ``model``; the model writes its own served form."""
        return model.log("model", input_example=input_example, registered_model_name=registered_name)



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
            model.save(run.local_dir / "model", example)
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

