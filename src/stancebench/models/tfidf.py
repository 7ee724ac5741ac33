"""TF-IDF baselines: word and character n-grams with LogisticRegression or LinearSVC."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from stancebench.errors import UserError
from stancebench.models.base import Classifier
from stancebench.models.text import ArabicNormalizer

CLASSIFIERS = ("logreg", "svm")
# Types the skops loader must trust to rebuild the pipeline (everything else is plain scikit-learn).
TRUSTED_TYPES = ["stancebench.models.text.ArabicNormalizer", "stancebench.models.tfidf.UsedColumns"]


class UsedColumns(TransformerMixin, BaseEstimator):
    """Keep only the feature columns that occur in the training data.

    Hashed features span 2 x 2**20 columns of which a small data set uses a few thousand; a linear
    classifier gives an unused column a zero weight anyway, so dropping them changes no prediction,
    but LogisticRegression's solver works on dense coefficient vectors of every column: without this
    step one fit on 12 sentences took ~10 s instead of ~0.1 s.
    """

    def fit(self, X, y=None):
        X = sp.csr_matrix(X)
        self.n_features_in_ = X.shape[1]
        self.columns_ = np.unique(X.indices).astype(np.int64)
        return self

    def transform(self, X):
        return sp.csr_matrix(X)[:, self.columns_]


class TfidfClassifier(Classifier):
    """Arabic-normalised word + character TF-IDF features feeding a linear classifier.

    Parameters
    ----------
    classifier : "logreg" or "svm"
    C : inverse regularisation strength
    class_weight : "balanced" or None
    word_ngram_range, char_ngram_range : n-gram ranges; ``char_ngram_range=None`` drops char features
    n_features : size of the hashed feature space of each analyzer
    normalize : dict of switches for :func:`stancebench.models.text.normalize_arabic`
    target_aware : "auto" (when the training data has several targets), True or False
    """

    family = "tfidf"
    fit_in_fork = True
    requirements = ("scikit-learn", "skops", "numpy", "pandas", "scipy", "threadpoolctl")

    def __init__(
        self,
        classifier: str = "logreg",
        C: float = 1.0,
        class_weight: str | None = "balanced",
        word_ngram_range: Sequence[int] = (1, 2),
        char_ngram_range: Sequence[int] | None = (2, 5),
        n_features: int = 2**20,
        sublinear_tf: bool = True,
        max_iter: int = 2000,
        normalize: dict | None = None,
        target_aware: bool | str = "auto",
    ):
        if classifier not in CLASSIFIERS:
            raise UserError(f"model.params.classifier={classifier!r} is not one of {', '.join(CLASSIFIERS)}")
        self.classifier = classifier
        self.C = C
        self.class_weight = class_weight
        self.word_ngram_range = tuple(word_ngram_range)
        self.char_ngram_range = tuple(char_ngram_range) if char_ngram_range else None
        self.n_features = n_features
        self.sublinear_tf = sublinear_tf
        self.max_iter = max_iter
        self.normalize = dict(normalize or {})
        self.target_aware = target_aware

    def _vectorizer(self, analyzer: str, ngram_range) -> Pipeline:
        # Hashed counts + TF-IDF weighting: the same features as TfidfVectorizer up to rare hash
        # collisions, but with no vocabulary to store, so a saved model stays small and loads fast
        # (a skops dump of a 2-million-entry char n-gram vocabulary took minutes).
        # Word tokens include one-letter words (و, ب, ل are common Arabic clitics left unsplit).
        pattern = {"token_pattern": r"(?u)\b\w+\b"} if analyzer == "word" else {}
        hashed = HashingVectorizer(analyzer=analyzer, ngram_range=tuple(ngram_range), n_features=self.n_features,
                                   alternate_sign=False, norm=None, **pattern)
        return Pipeline([("counts", hashed), ("tfidf", TfidfTransformer(sublinear_tf=self.sublinear_tf))])

    def _pipeline(self, seed: int) -> Pipeline:
        features = [("word", self._vectorizer("word", self.word_ngram_range))]
        if self.char_ngram_range:
            features.append(("char", self._vectorizer("char_wb", self.char_ngram_range)))
        if self.classifier == "logreg":
            clf = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                                     random_state=seed)
        else:
            clf = LinearSVC(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter, random_state=seed)
        return Pipeline([
            ("normalize", ArabicNormalizer(target_aware=self.target_aware_, **self.normalize)),
            ("features", FeatureUnion(features)),
            ("used", UsedColumns()),
            ("classifier", clf),
        ])

    def fit(self, texts, labels, targets=None, seed: int = 0) -> "TfidfClassifier":
        self._begin_fit(labels, targets)
        self.pipeline_ = self._pipeline(seed)
        # One BLAS/OpenMP thread: these solvers gain nothing from threads on sparse TF-IDF features, and
        # on a busy machine (parallel sweep jobs, a loaded CI box) the threads' hand-offs made each
        # LogisticRegression fit 10-25x slower.
        with threadpool_limits(limits=1):
            self.pipeline_.fit(self.input_example(texts, targets), np.asarray(labels, dtype=object))
        self.labels_ = [str(c) for c in self.pipeline_.classes_]
        return self

    def predict_scores(self, texts, targets=None) -> np.ndarray:
        if not len(texts):  # scikit-learn refuses an empty batch
            return np.zeros((0, len(self.labels_)))
        X = self.input_example(texts, targets)
        with threadpool_limits(limits=1):
            if self.classifier == "logreg":
                return self.pipeline_.predict_proba(X)
            scores = self.pipeline_.decision_function(X)
        if scores.ndim == 1:  # binary LinearSVC: one margin for classes_[1]
            scores = np.stack([-scores, scores], axis=1)
        return scores

    @property
    def score_kind(self) -> str:
        return "probabilities" if self.classifier == "logreg" else "scores"

    # ------------------------------------------------------------------ persistence
    PIPELINE_FILE = "pipeline.skops"

    def save_artifacts(self, folder: Path) -> dict:
        """The whole scikit-learn pipeline (normalisation, features, classifier) in skops format."""
        from stancebench.lazy import import_without_torch

        skops_io = import_without_torch("skops.io")
        skops_io.dump(self.pipeline_, folder / self.PIPELINE_FILE)
        return {"pipeline": self.PIPELINE_FILE}

    @classmethod
    def load_artifacts(cls, folder: Path, params: dict, state: dict) -> "TfidfClassifier":
        from stancebench.lazy import import_without_torch

        skops_io = import_without_torch("skops.io")
        model = cls(**params)
        # skops refuses every type it does not trust: scikit-learn's own, plus our two transformers.
        model.pipeline_ = skops_io.load(folder / state["pipeline"], trusted=TRUSTED_TYPES)
        return model

    @classmethod
    def prepare_logging(cls) -> None:
        from stancebench.lazy import import_without_torch

        import_without_torch("skops.io")  # keep torch out of a TF-IDF run
        super().prepare_logging()
