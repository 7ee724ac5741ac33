"""The one interface every classifier offers, TF-IDF and transformer alike."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from stancebench.errors import UserError


class Classifier(ABC):
    """Fit on texts and labels, predict label strings and per-class scores.

    Like scikit-learn estimators, ``__init__`` only stores settings; learned state (``labels_``)
    appears in :meth:`fit`.  ``targets`` are the stance targets per text; a model uses them only
    when it is target-aware.
    """

    family: str = "base"
    labels_: list[str]

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

    @abstractmethod
    def input_example(self, texts: Sequence[str], targets: Sequence[str | None] | None = None):
        """Raw model input as MLflow pyfunc expects it for these texts."""
