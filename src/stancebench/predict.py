"""``python -m stancebench predict``: labels and class probabilities for new sentences from a logged model.

The model is named by an MLflow URI (``runs:/<run id>/model``, ``models:/<name>/<version>``,
``models:/<name>@<alias>``) or a saved model folder, and is loaded through the flavour it was logged
with, so the preprocessing of training runs again: the scikit-learn pipeline (Arabic normalisation,
TF-IDF), the transformers pipeline (its tokenizer), or the ``served_transformer`` model (AraBERT
preprocessing).  Inputs are read and checked before MLflow is imported: a bad file fails at once.

One JSON object per sentence::

    {"id": 0, "text": "...", "label": "favor", "probabilities": {"against": 0.05, "favor": 0.69, "none": 0.26}}

``probabilities`` for models that have them (logistic regression, transformers: softmax), ``scores``
(decision-function margins) for those that do not (LinearSVC).  ``id`` is the input's id column, else
the 0-based position (line of a text or JSONL file, row of a CSV file, position among the arguments).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from stancebench.errors import UserError
from stancebench.paths import atomic_open

FORMATS = ("auto", "txt", "csv", "tsv", "jsonl")
SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
URI_FORMS = ("runs:/<run id>/model, models:/<name>/<version>, models:/<name>@<alias> "
             "or a saved MLflow model folder")
LOGGED_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/")  # runs:/, models:/, s3://...; not a local path


@dataclass(frozen=True)
class Sentence:
    """One input: its id (input id column or 0-based position), text and optional stance target."""

    id: Any
    text: str
    target: str | None = None


# ---------------------------------------------------------------------------------------- inputs


def read_sentences(
    texts: Sequence[str] = (),
    path: Path | str | None = None,
    fmt: str = "auto",
    text_column: str = "text",
    target_column: str = "target",
    id_column: str = "id",
    target: str | None = None,
) -> list[Sentence]:
    """Sentences from command-line ``texts`` or from ``path`` (text, CSV/TSV or JSONL; ``-``: stdin).

    ``target`` fills in the stance target of every sentence that has none of its own.
    """
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if texts and path is not None:
        raise UserError("give sentences as arguments or --input FILE, not both")
    if path is None:
        if not texts:
            raise UserError("no input: give sentences as arguments, or --input FILE (one sentence per line, "
                            "CSV or JSONL; - reads standard input)")
        sentences = [Sentence(i, _checked_argument(i, t)) for i, t in enumerate(texts)]
    else:
        name, data = _read_bytes(path)
        kind = fmt if fmt != "auto" else SUFFIX_FORMATS.get(Path(name).suffix.lower(), "txt")
        text = _decode(data, name)
        if kind == "txt":
            sentences = _from_lines(text)
        elif kind == "jsonl":
            sentences = _from_jsonl(text, name, text_column, target_column, id_column)
        else:
            sentences = _from_csv(text, name, "\t" if kind == "tsv" else ",", text_column, target_column, id_column)
        if not sentences:
            raise UserError(f"{name} holds no sentences (it is empty, blank or a header only); give a file with one "
                            f"sentence per line, or a CSV/JSONL file with a {text_column!r} column")
    if target:
        sentences = [s if s.target else Sentence(s.id, s.text, target) for s in sentences]
    return sentences


def _checked_argument(index: int, text: str) -> str:
    try:
        text.encode("utf-8")  # undecodable argv bytes arrive as lone surrogates
    except UnicodeEncodeError:
        raise UserError(f"sentence argument {index + 1} is not valid UTF-8; set a UTF-8 locale or use "
                        "--input FILE with a UTF-8 file") from None
    return text


def _read_bytes(path: Path | str) -> tuple[str, bytes]:
    if str(path) == "-":
        return "<stdin>", sys.stdin.buffer.read()
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"input file {path} does not exist; check the path given to --input")
    return str(path), path.read_bytes()


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")  # -sig: a BOM (spreadsheet exports) is not part of the first text
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise UserError(f"{name}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); re-save the file as "
                        "UTF-8 (e.g. iconv -f WINDOWS-1256 -t UTF-8)") from None


def _from_lines(text: str) -> list[Sentence]:
    """One sentence per non-blank line; the id is the 0-based line number."""
    return [Sentence(i, line.strip()) for i, line in enumerate(text.split("\n")) if line.strip()]


def _from_csv(text: str, name: str, delimiter: str, text_column: str, target_column: str,
              id_column: str) -> list[Sentence]:
    import csv

    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = reader.fieldnames or []
    if columns and text_column not in columns:
        raise UserError(f"{name} has no column {text_column!r} (columns: {', '.join(columns)}); "
                        "name the text column with --text-column NAME")
    out = []
    for row_number, row in enumerate(reader):
        value = row.get(text_column)
        if value is None:
            raise UserError(f"{name}: data row {row_number + 1} has no {text_column!r} value (a short row); "
                            "fix or remove the row")
        sid = row.get(id_column) if id_column in columns else row_number
        out.append(Sentence(sid, value, row.get(target_column) or None))
    return out


def _from_jsonl(text: str, name: str, text_column: str, target_column: str, id_column: str) -> list[Sentence]:
    from stancebench.jsonl import parse_json_lines

    out = []
    for lineno, record in parse_json_lines(text, name):
        value = record.get(text_column)
        if not isinstance(value, str):
            what = "no" if value is None else "a non-string"
            raise UserError(f"{name}:{lineno}: {what} {text_column!r} field (fields: {', '.join(record)}); "
                            "name the text field with --text-column NAME")
        target = record.get(target_column)
        out.append(Sentence(record.get(id_column, lineno - 1), value, str(target) if target else None))
    return out


# ----------------------------------------------------------------------------------------- model


def _check_store(tracking_uri: str) -> None:
    """A runs:/ or models:/ URI needs the store: say so instead of creating an empty one."""
    from urllib.parse import urlparse

    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri[len("sqlite:///"):])
        if not db.is_file():
            raise UserError(f"no tracking store at {db}; train a model first (`stancebench train`), or point "
                            "--tracking-uri (or MLFLOW_TRACKING_URI) at the store holding the model")
    elif urlparse(tracking_uri).scheme in {"http", "https"}:
        from stancebench.tracking import StoreSettings, check_reachable

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

    from stancebench.tracking import resolve_tracking_uri

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
    """A logged model behind one call: ``predict(texts, targets)`` -> (labels, per-class score dicts)."""

    score_field: str | None = "probabilities"  # the output key of the per-class values (None: no values)
    target_aware = False

    def predict(self, texts: list[str], targets: list[str | None]) -> tuple[list[str], list[dict | None]]:
        raise NotImplementedError


class SklearnModel(LoadedModel):
    """The scikit-learn flavour: the whole pipeline, so ``predict_proba``/``decision_function`` are reachable."""

    def __init__(self, folder: Path, meta):
        from stancebench.lazy import import_without_torch

        import_without_torch("skops.io")  # mlflow imports it to load; keep torch out of a TF-IDF process
        import mlflow.sklearn

        self.pipeline = mlflow.sklearn.load_model(str(folder))
        self.labels = [str(c) for c in self.pipeline.classes_]
        self.score_field = "probabilities" if hasattr(self.pipeline, "predict_proba") else "scores"
        names = meta.signature.inputs.input_names() if meta.signature is not None else []
        self.target_aware = "text" in names and "target" in names  # logged from a {"target", "text"} frame

    def predict(self, texts, targets):
        import numpy as np
        from threadpoolctl import threadpool_limits

        if self.target_aware:
            import pandas as pd

            X = pd.DataFrame({"target": list(targets), "text": list(texts)})
        else:
            X = np.asarray(list(texts), dtype=object)
        with threadpool_limits(limits=1):  # as in training: threads only slow sparse linear models down
            if self.score_field == "probabilities":
                scores = self.pipeline.predict_proba(X)
            else:
                scores = np.asarray(self.pipeline.decision_function(X))
                if scores.ndim == 1:  # binary: one margin, for classes_[1]
                    scores = np.stack([-scores, scores], axis=1)
        labels = [self.labels[i] for i in np.argmax(scores, axis=1)]
        return labels, [dict(zip(self.labels, map(float, row))) for row in scores]


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


class TransformersModel(LoadedModel):
    """The transformers flavour: its text-classification pipeline, asked for every class's probability."""

    def __init__(self, folder: Path, meta):
        _quiet_transformers()
        import mlflow.transformers

        self.pipe = mlflow.transformers.load_model(str(folder))
        # What MLflow's own pyfunc passes to the pipeline (model_config), over a default truncation.
        self.call_kwargs = {"truncation": True, **(meta.flavors["python_function"].get("config") or {})}
        id2label = self.pipe.model.config.id2label
        self.labels = [str(id2label[i]) for i in sorted(id2label)]

    def predict(self, texts, targets):
        out = self.pipe(list(texts), **{**self.call_kwargs, "top_k": None, "batch_size": len(texts)})
        rows = [{o["label"]: float(o["score"]) for o in row} for row in out]
        rows = [{label: row[label] for label in self.labels} for row in rows]
        return [max(row, key=row.get) for row in rows], rows


class PreprocessedModel(LoadedModel):
    """A ``served_transformer`` model from code: its ``label_scores`` apply the training preprocessing."""

    def __init__(self, python_model):
        self.python_model = python_model

    def predict(self, texts, targets):
        rows = self.python_model.label_scores(list(texts), batch_size=len(texts))
        return [max(row, key=row.get) for row in rows], rows


class PyfuncModel(LoadedModel):
    """Any other MLflow model: its pyfunc ``predict``; a ``label`` column and, if any, a top ``score``."""

    score_field = None

    def __init__(self, pyfunc_model):
        self.model = pyfunc_model

    def predict(self, texts, targets):
        out = self.model.predict(list(texts))
        if hasattr(out, "columns"):
            labels = out["label"] if "label" in out.columns else out.iloc[:, 0]
            scores = out["score"] if "score" in out.columns else [None] * len(out)
            return [str(v) for v in labels], [None if s is None else {"score": float(s)} for s in scores]
        return [str(v) for v in list(out)], [None] * len(texts)


def load_model(folder: Path) -> LoadedModel:
    """Load a model folder through the flavour that keeps its preprocessing and exposes class scores."""
    import warnings

    from mlflow.models import Model

    meta = Model.load(str(folder))
    if "sklearn" in meta.flavors:
        return SklearnModel(folder, meta)
    if "transformers" in meta.flavors:
        return TransformersModel(folder, meta)
    if "python_function" not in meta.flavors:
        raise UserError(f"model {folder} has no python_function flavour ({', '.join(meta.flavors)}); "
                        "stancebench predict reads scikit-learn, transformers and pyfunc models")
    import mlflow.pyfunc

    with contextlib.suppress(ImportError):  # a model from code may hold a transformers pipeline
        _quiet_transformers()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method")
        model = mlflow.pyfunc.load_model(str(folder))
    if meta.flavors["python_function"].get("loader_module", "").startswith("mlflow.pyfunc"):
        python_model = model.unwrap_python_model()
        if hasattr(python_model, "label_scores"):
            return PreprocessedModel(python_model)
    return PyfuncModel(model)


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


# --------------------------------------------------------------------------------------- predict


def show_progress(n_items: int, batch_size: int, requested: bool | None, stream: TextIO) -> bool:
    """``requested`` wins; by default a bar only on a terminal, and only for more than one batch."""
    if requested is not None:
        return requested
    return n_items > batch_size and stream.isatty()


def predict_sentences(model: LoadedModel, sentences: Sequence[Sentence], batch_size: int = 64,
                      progress: bool | None = None) -> Iterator[dict]:
    """One output record per sentence, in input order, computed ``batch_size`` sentences at a time."""
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size} must be 1 or more")
    if model.target_aware and any(not s.target for s in sentences):
        missing = next(s for s in sentences if not s.target)
        raise UserError(f"the model is target-aware (trained on target + sentence pairs) and sentence id {missing.id!r} "
                        "has no target; give --target TEXT or a target column (--target-column NAME)")
    from tqdm import tqdm

    show = show_progress(len(sentences), batch_size, progress, sys.stderr)
    with tqdm(total=len(sentences), unit="sentence", file=sys.stderr, disable=not show, dynamic_ncols=True) as bar:
        for start in range(0, len(sentences), batch_size):
            batch = sentences[start:start + batch_size]
            with contextlib.redirect_stdout(sys.stderr):
                labels, scores = model.predict([s.text for s in batch], [s.target for s in batch])
            for sentence, label, values in zip(batch, labels, scores):
                record: dict[str, Any] = {"id": sentence.id, "text": sentence.text}
                if sentence.target is not None:
                    record["target"] = sentence.target
                record["label"] = label
                if values is not None:
                    record.update(values if model.score_field is None else {model.score_field: values})
                yield record
            bar.update(len(batch))


def write_jsonl(records: Iterable[dict], output: Path | None, stream: TextIO) -> int:
    """Write ``records`` as JSON lines to ``output`` (a temporary file renamed into place) or ``stream``."""
    if output is None:
        n = 0
        for n, record in enumerate(records, start=1):
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        stream.flush()
        return n
    output = Path(output).expanduser()
    if not output.parent.is_dir():
        raise UserError(f"the folder of --output {output} does not exist; create it or choose another path")
    with atomic_open(output) as f:
        return write_jsonl(records, None, f)


def run_predict(model_uri: str, texts: Sequence[str] = (), input_path: Path | str | None = None, *,
                output: Path | None = None, fmt: str = "auto", text_column: str = "text",
                target_column: str = "target", id_column: str = "id", target: str | None = None,
                batch_size: int = 64, progress: bool | None = None, tracking_uri: str | None = None,
                stream: TextIO | None = None) -> int:
    """The predict command: read, check, load, predict in batches, write; returns the number of sentences."""
    sentences = read_sentences(texts, input_path, fmt, text_column, target_column, id_column, target)
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size} must be 1 or more")
    if output is not None and not Path(output).expanduser().parent.is_dir():
        raise UserError(f"the folder of --output {output} does not exist; create it or choose another path")
    stream = stream or sys.stdout
    with open_model(model_uri, tracking_uri) as model:
        return write_jsonl(predict_sentences(model, sentences, batch_size, progress), output, stream)
