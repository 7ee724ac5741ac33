"""``stancebench ui``: the MLflow UI on the project's store, opened on the experiment's training runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stancebench.errors import UserError
from stancebench.tracking.store import StoreSettings, _health_problem, _is_remote

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

