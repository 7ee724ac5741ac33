"""Evaluation protocols: held-out split, stratified k-fold, leave-one-out, cross-dataset.

Each protocol returns the predictions on its evaluation items (the test split, the pooled
out-of-fold predictions, or the other dataset) and the model to log: the one trained on the
training split, or for k-fold and leave-one-out a final model refit on all the training items.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stancebench.errors import UserError
from stancebench.models.base import Classifier

PROTOCOLS = ("auto", "holdout", "kfold", "loo", "cross_dataset")


@dataclass
class Items:
    """Evaluation or training items of one task, as plain lists."""

    ids: list[str]
    texts: list[str]
    targets: list[str | None]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index) -> "Items":
        index = list(index)
        return Items([self.ids[i] for i in index], [self.texts[i] for i in index],
                     [self.targets[i] for i in index], [self.labels[i] for i in index])


@dataclass
class Predictions:
    """What a protocol produced on its evaluation items."""

    items: Items
    predicted: list[str]
    scores: np.ndarray
    score_labels: list[str]
    folds: list[int] = field(default_factory=list)


def choose_protocol(requested: str, has_test_split: bool, n_train: int, loo_max_items: int) -> str:
    """Resolve ``auto``: holdout with a test split, leave-one-out for tiny data, else k-fold."""
    if requested not in PROTOCOLS:
        raise UserError(f"eval.protocol={requested!r} is not one of {', '.join(PROTOCOLS)}")
    if requested != "auto":
        if requested == "holdout" and not has_test_split:
            raise UserError("eval=holdout needs a dataset with a test split; use eval=kfold or eval=loo")
        return requested
    if has_test_split:
        return "holdout"
    return "loo" if n_train <= loo_max_items else "kfold"


def _scores_in_order(model: Classifier, scores: np.ndarray, labels: list[str]) -> np.ndarray:
    """Re-index a model's score columns onto ``labels`` (a fold may miss a class: its column is -inf)."""
    out = np.full((scores.shape[0], len(labels)), -np.inf)
    for j, label in enumerate(model.labels_):
        out[:, labels.index(label)] = scores[:, j]
    return out


def _check_fold(train: Items, fold: int | str) -> None:
    classes = sorted(set(train.labels))
    if len(classes) < 2:
        raise UserError(
            f"training fold {fold} has one class only ({classes[0]!r}); use fewer folds (eval.k), "
            "eval=loo, or more data"
        )


def _fit_predict(factory, train: Items, test: Items, labels: list[str], seed: int, fold) -> tuple:
    _check_fold(train, fold)
    model = factory().fit(train.texts, train.labels, train.targets, seed=seed)
    scores = _scores_in_order(model, np.asarray(model.predict_scores(test.texts, test.targets)), labels)
    return model, scores


def run_protocol(
    protocol: str,
    factory: Callable[[], Classifier],
    train: Items,
    evaluation: Items | None,
    labels: list[str],
    seed: int,
    k: int = 5,
    final_factory: Callable[[], Classifier] | None = None,
    splits: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[Predictions, Classifier]:
    """Run one protocol; returns the evaluation predictions and the model to log.

    ``factory()`` makes a fresh model for each fold; ``final_factory()`` (default: ``factory``) makes
    the model that will be logged, so a caller can record the training curves of that one alone.
    ``splits``: the k-fold / leave-one-out folds already made by :func:`fold_splits` (else made here).
    """
    if protocol in ("holdout", "cross_dataset"):
        if evaluation is None or not len(evaluation):
            raise UserError(f"eval={protocol} has no evaluation items; check the test split / eval.target_data")
        model, scores = _fit_predict(final_factory or factory, train, evaluation, labels, seed, "train")
        return _predictions(evaluation, scores, labels, [0] * len(evaluation)), model

    if splits is None:
        splits = fold_splits(protocol, train, seed, k)
    scores = np.zeros((len(train), len(labels)))
    folds = [0] * len(train)
    for fold, (train_idx, test_idx) in enumerate(splits):
        _, fold_scores = _fit_predict(factory, train.subset(train_idx), train.subset(test_idx), labels, seed, fold)
        scores[test_idx] = fold_scores
        for i in test_idx:
            folds[i] = fold
    final = (final_factory or factory)().fit(train.texts, train.labels, train.targets, seed=seed)
    return _predictions(train, scores, labels, folds), final


def fold_splits(protocol: str, train: Items, seed: int, k: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, test) index pairs of ``kfold`` or ``loo``, each training fold checked for two classes.

    Cheap, and the same splits :func:`run_protocol` uses: ``train`` calls it before the MLflow run
    starts, so a bad ``eval.k`` or a one-class fold fails at once and leaves no FAILED run behind.
    """
    from sklearn.model_selection import LeaveOneOut, StratifiedKFold

    if protocol == "kfold":
        if isinstance(k, bool) or not isinstance(k, int) or k < 2 or k > len(train):
            raise UserError(f"eval.k={k} must be a whole number between 2 and the number of training items "
                            f"({len(train)})")
        # A class rarer than k leaves some test folds without it; StratifiedKFold still splits validly,
        # unless every class is rarer than k.
        largest = max(train.labels.count(label) for label in set(train.labels))
        if largest < k:
            raise UserError(
                f"eval.k={k} is more folds than the largest class has items ({largest}); "
                "use a smaller eval.k, eval=loo, or more data"
            )
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            # "The least populated class in y has only 1 members": expected on tiny data, see above.
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            splits = list(splitter.split(np.zeros(len(train)), train.labels))
    elif protocol == "loo":
        splits = list(LeaveOneOut().split(np.zeros(len(train))))
    else:
        raise UserError(f"eval.protocol={protocol!r} is not one of {', '.join(PROTOCOLS)}")
    for fold, (train_idx, _) in enumerate(splits):
        _check_fold(train.subset(train_idx), fold)
    _check_fold(train, "all")
    return splits


def predict_items(model: Classifier, items: Items, labels: list[str]) -> Predictions:
    """A fitted model's predictions on further evaluation items (scored like the protocol's own)."""
    scores = _scores_in_order(model, np.asarray(model.predict_scores(items.texts, items.targets)), labels)
    return _predictions(items, scores, labels, [0] * len(items))


def _predictions(items: Items, scores: np.ndarray, labels: list[str], folds: list[int]) -> Predictions:
    predicted = [labels[i] for i in np.argmax(scores, axis=1)]
    return Predictions(items, predicted, scores, labels, folds)
