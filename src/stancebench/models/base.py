"""The one interface every classifier offers, TF-IDF and transformer alike, from ``fit`` to serving.

A family (a subclass) owns its whole life: it learns (:meth:`Classifier.fit`), scores
(:meth:`Classifier.predict_scores`), writes its fitted state in its own formats
(:meth:`Classifier.save_artifacts`) and reads it back (:meth:`Classifier.load_artifacts`).  What is
common to all families lives here: the folder layout (:meth:`Classifier.save_folder`,
:func:`load_folder`) and the MLflow model (:meth:`Classifier.save`, :meth:`Classifier.log`), a pyfunc
whose ``predict`` (:mod:`stancebench.models.served`) loads the same class from the same folder and
calls the same ``predict_scores``.  So ``stancebench predict``, ``mlflow.pyfunc.load_model`` and
``mlflow models serve`` give exactly the probabilities the run computed, target-aware models included.
"""

from __future__ import annotations

import importlib
import inspect
import json
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from stancebench.errors import UserError

FOLDER_FORMAT = 1  # bump when the layout of a classifier folder changes
MANIFEST = "stancebench-model.json"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # shipped with every logged model (its code)
SERVED_MODEL_CODE = Path(__file__).resolve().with_name("served.py")


class Classifier(ABC):
    """Fit on texts and labels, predict label strings and per-class scores; save, log and load itself.

    Like scikit-learn estimators, ``__init__`` only stores settings (its parameters are the settings
    a saved model records); learned state (``labels_``, ``target_aware_``) appears in :meth:`fit`.
    ``targets`` are the stance targets per text; a model uses them only when it is target-aware.
    """

    family: ClassVar[str] = "base"
    #: Packages (distribution names) the served model imports; pinned to the installed versions.
    requirements: ClassVar[tuple[str, ...]] = ("numpy", "pandas")
    #: Whether ``train`` may fit it in a forked process (CPU-bound, picklable, no per-epoch callbacks).
    fit_in_fork: ClassVar[bool] = False
    labels_: list[str]
    target_aware_: bool = False

    # ------------------------------------------------------------------ learning
    @abstractmethod
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        targets: Sequence[str | None] | None = None,
        seed: int = 0,
    ) -> "Classifier":
        """Learn from ``texts`` and their ``labels``; returns ``self``."""

    def _begin_fit(self, labels: Sequence[str], targets: Sequence[str | None] | None) -> None:
        """Checks and settings every ``fit`` starts with: two classes at least; target-awareness."""
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise UserError(
                f"the training data has one class only ({classes}); a classifier needs two or more — "
                "use a protocol with larger training folds (eval=loo) or more data"
            )
        mode = getattr(self, "target_aware", False)
        distinct_targets = {t for t in (targets or []) if t}
        self.target_aware_ = len(distinct_targets) > 1 if mode == "auto" else bool(mode)

    @abstractmethod
    def predict_scores(self, texts: Sequence[str], targets: Sequence[str | None] | None = None) -> np.ndarray:
        """Per-class scores, shape ``(len(texts), len(self.labels_))``; higher means more likely."""

    def predict(self, texts: Sequence[str], targets: Sequence[str | None] | None = None) -> list[str]:
        """The label with the highest score for each text."""
        scores = self.predict_scores(texts, targets)
        return [self.labels_[i] for i in np.argmax(scores, axis=1)]

    def label_values(self, texts: Sequence[str], targets: Sequence[str | None] | None = None,
                     ) -> tuple[list[str], list[dict[str, float]]]:
        """The predicted label and a ``{label: value}`` row per text: what the served model answers."""
        scores = self.predict_scores(texts, targets)
        labels = [self.labels_[i] for i in np.argmax(scores, axis=1)] if len(scores) else []
        return labels, [dict(zip(self.labels_, map(float, row))) for row in scores]

    @property
    def score_kind(self) -> str:
        """``probabilities`` (rows sum to one) or ``scores`` (margins): the name of the served values."""
        return "probabilities"

    def run_tags(self) -> dict[str, str]:
        """Settings resolved during ``fit`` that the run records as tags (e.g. the precision used)."""
        return {}

    def served_requirements(self) -> tuple[str, ...]:
        """The packages this fitted model's served form imports (:attr:`requirements` by default)."""
        return self.requirements

    def get_params(self) -> dict[str, Any]:
        """The constructor's settings, as stored (what a saved model records to rebuild this object)."""
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != "self"]
        return {name: getattr(self, name) for name in names}

    # ------------------------------------------------------------------ persistence, per family
    @abstractmethod
    def save_artifacts(self, folder: Path) -> dict[str, Any]:
        """Write the fitted state into the empty ``folder`` in the family's own formats (no pickle);
        return what :meth:`load_artifacts` needs besides the files (JSON values)."""

    @classmethod
    @abstractmethod
    def load_artifacts(cls, folder: Path, params: dict[str, Any], state: dict[str, Any]) -> "Classifier":
        """The fitted classifier that :meth:`save_artifacts` wrote into ``folder``.

        ``params`` are the constructor settings, ``state`` what ``save_artifacts`` returned.
        """

    @classmethod
    def prepare_logging(cls) -> None:
        """Import what saving and logging will need (``train`` calls it while a forked fit runs)."""
        import mlflow.models  # noqa: F401
        import mlflow.pyfunc  # noqa: F401

    # ------------------------------------------------------------------ common to every family
    def save_folder(self, folder: Path) -> Path:
        """The fitted classifier as a plain folder: the family's files and a JSON manifest."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=False)
        state = self.save_artifacts(folder)
        cls = type(self)
        manifest = {
            "format": FOLDER_FORMAT, "family": self.family, "class": f"{cls.__module__}.{cls.__qualname__}",
            "params": self.get_params(), "labels": list(self.labels_), "target_aware": bool(self.target_aware_),
            "state": state,
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=list) + "\n",
                                       encoding="utf-8")
        return folder

    def input_example(self, texts: Sequence[str], targets: Sequence[str | None] | None = None):
        """Raw input of the served model for these texts: a list of sentences, or a frame of
        ``target`` and ``text`` columns for a target-aware model."""
        if self.target_aware_:
            import pandas as pd

            return pd.DataFrame({"target": [str(t or "") for t in (targets or [None] * len(texts))],
                                 "text": [str(t) for t in texts]})
        return [str(t) for t in texts]

    @staticmethod
    @contextmanager
    def _quiet_mlflow():
        """MLflow's "Validating input example against model signature" (a log line per model), silenced."""
        import logging

        logger = logging.getLogger("mlflow.pyfunc")
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            logger.setLevel(level)

    def _mlflow_args(self, input_example, scratch: Path) -> dict[str, Any]:
        """The arguments of ``mlflow.pyfunc.save_model``/``log_model`` for this fitted classifier."""
        from importlib.metadata import version

        from mlflow.models import ModelSignature
        from mlflow.types.schema import ColSpec, DataType, Map, Schema

        folder = self.save_folder(scratch / "classifier")
        if self.target_aware_:
            inputs = Schema([ColSpec("string", "target"), ColSpec("string", "text")])
        else:  # one unnamed string column: a list, an array or a one-column frame all work
            inputs = Schema([ColSpec("string")])
        outputs = Schema([ColSpec("string", "label"), ColSpec(Map(DataType.double), self.score_kind)])
        return dict(
            python_model=str(SERVED_MODEL_CODE),  # a model from code: no pickle
            artifacts={"classifier": str(folder)},
            code_paths=[str(PACKAGE_DIR)],  # the served model runs stancebench's own code
            signature=ModelSignature(inputs=inputs, outputs=outputs),
            input_example=input_example,
            # Explicit requirements: inferring them costs seconds and lists what the family never imports.
            pip_requirements=[f"{p}=={version(p)}" for p in ("mlflow", *self.served_requirements())],
        )

    def save(self, path: Path, input_example=None) -> Path:
        """Save as a local MLflow model folder, exactly as :meth:`log` logs it (a stale copy is replaced)."""
        import mlflow.pyfunc

        path = Path(path)
        if path.exists():
            shutil.rmtree(path)
        with tempfile.TemporaryDirectory(prefix="stancebench-model-") as scratch, self._quiet_mlflow():
            mlflow.pyfunc.save_model(path=str(path), **self._mlflow_args(input_example, Path(scratch)))
        return path

    def log(self, name: str = "model", input_example=None, registered_model_name: str | None = None):
        """Log as the active run's MLflow model ``name``; returns MLflow's ``ModelInfo``."""
        import mlflow.pyfunc

        with tempfile.TemporaryDirectory(prefix="stancebench-model-") as scratch, self._quiet_mlflow():
            return mlflow.pyfunc.log_model(name=name, registered_model_name=registered_model_name,
                                           **self._mlflow_args(input_example, Path(scratch)))


def load_folder(folder: Path) -> Classifier:
    """The fitted classifier saved by :meth:`Classifier.save_folder` into ``folder``."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{folder} is not a stancebench model folder ({MANIFEST}: {exc})") from None
    if manifest.get("format") != FOLDER_FORMAT:
        raise UserError(f"{folder}: model folder format {manifest.get('format')!r}, this stancebench reads "
                        f"{FOLDER_FORMAT}; retrain the model or install the stancebench version that saved it")
    module, _, name = str(manifest["class"]).rpartition(".")
    if not module.startswith("stancebench.models."):  # a manifest names code to import: ours only
        raise UserError(f"{folder}: class {manifest['class']!r} is not a stancebench model family")
    cls = getattr(importlib.import_module(module), name)
    model = cls.load_artifacts(folder, manifest["params"], manifest.get("state") or {})
    model.labels_ = [str(label) for label in manifest["labels"]]
    model.target_aware_ = bool(manifest["target_aware"])
    return model


def split_model_input(model_input, target_aware: bool) -> tuple[list[str], list[str | None] | None]:
    """Texts (and targets) from what a served model receives: a list, an array, a Series, a dict of
    columns or a frame with ``text`` (and ``target``) columns, or one unnamed column."""
    import pandas as pd

    if isinstance(model_input, dict):
        model_input = pd.DataFrame(model_input)
    if isinstance(model_input, pd.DataFrame):
        texts = model_input["text"] if "text" in model_input.columns else model_input.iloc[:, 0]
        targets = model_input["target"] if "target" in model_input.columns else None
    else:
        texts, targets = model_input, None
    texts = [str(t) for t in np.asarray(texts, dtype=object).ravel()]
    if not target_aware:
        return texts, None
    if targets is None:
        raise UserError("the model is target-aware (trained on target + sentence pairs): give a frame with "
                        "'target' and 'text' columns")
    return texts, [None if t is None or t != t else str(t) for t in targets]
