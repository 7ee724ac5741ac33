"""A logged model from its URI (``runs:/``, ``models:/``, a saved folder), checked, downloaded, loaded.

Each mistake in a URI (no store, unknown run, registered name, version or alias) is one line naming
what exists.  Every model is loaded through its pyfunc flavour, as ``mlflow models serve`` loads it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from stancebench.errors import UserError

URI_FORMS = ("runs:/<run id>/model, models:/<name>/<version>, models:/<name>@<alias> "
             "or a saved MLflow model folder")
LOGGED_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/")  # runs:/, models:/, s3://...; not a local path


def _check_store(tracking_uri: str) -> None:
    """A runs:/ or models:/ URI needs the store: say so instead of creating an empty one."""
    from urllib.parse import urlparse

    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri[len("sqlite:///"):])
        if not db.is_file():
            raise UserError(f"no tracking store at {db}; train a model first (`stancebench train`), or point "
                            "--tracking-uri (or MLFLOW_TRACKING_URI) at the store holding the model")
    elif urlparse(tracking_uri).scheme in {"http", "https"}:
        from stancebench.tracking.store import StoreSettings, check_reachable

        check_reachable(StoreSettings(tracking_uri, "", None, way_out="pass --tracking-uri with a running server or a "
                                      "local store (sqlite:///PATH)"))


def _mlflow_error(exc: Exception) -> str:
    return (getattr(exc, "message", None) or str(exc)).strip().splitlines()[0].rstrip(".")


def _check_run(client, run_id: str, store: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_run(run_id)
    except MlflowException:
        raise UserError(f"run {run_id!r} does not exist in the tracking store {store}; copy the id from "
                        "`stancebench ui` or from train's output, or pass --tracking-uri") from None


def _check_registered(client, uri: str, store: str) -> None:
    """Name, version and alias of a models:/ URI exist; each missing one is named, with what exists."""
    from mlflow.exceptions import MlflowException

    head = uri[len("models:/"):].split("/", 2)
    if LOGGED_MODEL_ID.fullmatch(head[0]):
        try:
            client.get_logged_model(head[0])
        except MlflowException:
            raise UserError(f"logged model {head[0]!r} does not exist in the tracking store {store}; "
                            "pass --tracking-uri") from None
        return
    name, _, alias = head[0].partition("@")
    version = head[1] if len(head) > 1 and not alias else None
    try:
        registered = client.get_registered_model(name)
    except MlflowException:
        names = [m.name for m in client.search_registered_models(max_results=20)]
        raise UserError(f"registered model {name!r} does not exist in {store} (registered: "
                        f"{', '.join(names) or 'none'}); train with register=true, or pass --tracking-uri") from None
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
    listed = ", ".join(map(str, versions)) or "none"
    if alias:
        if alias not in (registered.aliases or {}):
            aliases = ", ".join(f"{a}->{v}" for a, v in (registered.aliases or {}).items()) or "none"
            raise UserError(f"registered model {name!r} has no alias {alias!r} (aliases: {aliases}; versions: "
                            f"{listed}); set it with `stancebench report --alias {alias}` or "
                            f"MlflowClient().set_registered_model_alias, or use models:/{name}/<version>")
    elif version is None or not version:
        raise UserError(f"{uri} names no version or alias; use models:/{name}/<version> or models:/{name}@<alias>")
    elif version.isdigit() and int(version) not in versions:
        raise UserError(f"registered model {name!r} has no version {version} (versions: {listed}); use one of them, "
                        f"or models:/{name}@<alias>")


def download_model(uri: str, tracking_uri: str | None, dst: Path) -> Path:
    """The local folder of the model ``uri`` (downloaded into ``dst`` unless it is a local folder)."""
    if uri.startswith("file:") or not URI_SCHEME.match(uri):
        from urllib.parse import unquote, urlparse

        folder = Path(unquote(urlparse(uri).path) if uri.startswith("file:") else uri).expanduser()
        if not folder.exists():
            raise UserError(f"model {uri} does not exist; --model takes {URI_FORMS}")
        return _checked_folder(folder, uri)
    import mlflow
    from mlflow.exceptions import MlflowException

    from stancebench.tracking.store import resolve_tracking_uri

    store = resolve_tracking_uri(tracking_uri)
    registry = os.environ.get("MLFLOW_REGISTRY_URI") or store
    if uri.startswith(("runs:/", "models:/")):
        _check_store(store)
        client = mlflow.MlflowClient(store, registry_uri=registry)
        if uri.startswith("runs:/"):
            run_id = uri[len("runs:/"):].split("/", 1)[0]
            _check_run(client, run_id, store)
        else:
            _check_registered(client, uri, store)
    mlflow.set_tracking_uri(store)  # runs:/ resolution of logged models reads the global URI, not the argument
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst), tracking_uri=store,
                                                    registry_uri=registry)
    except (MlflowException, OSError) as exc:
        hint = "; a run's model is runs:/<run id>/model" if uri.startswith("runs:/") else ""
        raise UserError(f"cannot download model {uri}: {_mlflow_error(exc)}{hint}") from None
    return _checked_folder(Path(local), uri)


def _checked_folder(folder: Path, uri: str) -> Path:
    if not (folder / "MLmodel").is_file():
        raise UserError(f"{uri} is not an MLflow model (no MLmodel file in {folder}); --model takes {URI_FORMS}")
    return folder


class LoadedModel:
    """A logged model behind one call: ``predict(texts, targets)`` -> (labels, per-class value dicts).

    Every model goes through ``mlflow.pyfunc.load_model``, the loader ``mlflow models serve`` uses.
    A stancebench model (:mod:`stancebench.models.served`) then exposes its fitted classifier, whose
    ``predict_scores`` the training run called; any other pyfunc model gives its labels only.
    """

    def __init__(self, pyfunc_model):
        self.pyfunc = pyfunc_model
        python_model = None
        with contextlib.suppress(Exception):  # not a PythonModel (another flavour's pyfunc)
            python_model = pyfunc_model.unwrap_python_model()
        self.classifier = getattr(python_model, "classifier", None)
        classifier = self.classifier
        self.target_aware = bool(classifier is not None and classifier.target_aware_)
        # The output key of the per-class values (None: the model has none).
        self.score_field = classifier.score_kind if classifier is not None else None

    def predict(self, texts: list[str], targets: list[str | None]) -> tuple[list[str], list[dict | None]]:
        if self.classifier is None:
            out = self.pyfunc.predict(list(texts))
            if hasattr(out, "columns"):
                out = out["label"] if "label" in out.columns else out.iloc[:, 0]
            return [str(v) for v in list(out)], [None] * len(texts)
        return self.classifier.label_values(list(texts), list(targets) if self.target_aware else None)


def load_model(folder: Path) -> LoadedModel:
    """Load a model folder through its pyfunc flavour (as ``mlflow models serve`` does)."""
    from mlflow.models import Model

    meta = Model.load(str(folder))
    if "python_function" not in meta.flavors:
        raise UserError(f"model {folder} has no python_function flavour ({', '.join(meta.flavors)}); "
                        "stancebench predict reads MLflow pyfunc models")
    import mlflow.pyfunc

    return LoadedModel(mlflow.pyfunc.load_model(str(folder)))


@contextlib.contextmanager
def open_model(uri: str, tracking_uri: str | None = None) -> Iterator[LoadedModel]:
    """The model named by ``uri``, loaded; a downloaded copy is removed afterwards.

    Library output printed while loading goes to stderr: stdout carries the JSON lines only.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="stancebench-predict-") as tmp:
        with contextlib.redirect_stdout(sys.stderr):
            folder = download_model(uri, tracking_uri, Path(tmp))
            model = load_model(folder)
        yield model

