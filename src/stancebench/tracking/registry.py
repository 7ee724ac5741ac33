"""Reading runs back and naming models: training runs, their artifacts, report runs, registry aliases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stancebench.errors import UserError
from stancebench.tracking.redaction import redact
from stancebench.tracking.store import (
    MAX_PARAM_LENGTH,
    StoreSettings,
    check_reachable,
    prepare_store,
)

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

