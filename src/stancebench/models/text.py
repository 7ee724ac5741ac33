"""Arabic text normalisation and input composition, as scikit-learn transformers.

They are part of every saved TF-IDF pipeline, so a logged model applies exactly the preprocessing it
was trained with when it predicts from raw strings.
"""

from __future__ import annotations

import re

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

# Harakat, tanween, shadda, sukun, superscript alef and Quranic marks.
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_TATWEEL = re.compile("\u0640")
_ALEF = re.compile("[\u0622\u0623\u0625\u0671]")  # آ أ إ ٱ -> ا
_YAA = re.compile("\u0649")  # ى -> ي
_TAA_MARBUTA = re.compile("\u0629")  # ة -> ه
TARGET_SEPARATOR = " [SEP] "


def normalize_arabic(
    text: str,
    diacritics: bool = True,
    tatweel: bool = True,
    alef: bool = True,
    yaa: bool = True,
    taa_marbuta: bool = False,
) -> str:
    """Apply the switched-on normalisations to one string."""
    if diacritics:
        text = _DIACRITICS.sub("", text)
    if tatweel:
        text = _TATWEEL.sub("", text)
    if alef:
        text = _ALEF.sub("\u0627", text)
    if yaa:
        text = _YAA.sub("\u064a", text)
    if taa_marbuta:
        text = _TAA_MARBUTA.sub("\u0647", text)
    return text


def compose_inputs(texts, targets=None) -> list[str]:
    """Sentence alone, or ``target [SEP] sentence`` when targets are given (target-aware input)."""
    texts = [str(t) for t in texts]
    if targets is None:
        return texts
    return [f"{tg}{TARGET_SEPARATOR}{tx}" if tg else tx for tg, tx in zip(targets, texts)]


class ArabicNormalizer(TransformerMixin, BaseEstimator):
    """Stateless transformer: array of strings in, normalised array of strings out.

    Also accepts a DataFrame with ``text`` (and ``target``) columns, so a target-aware model can be
    served from ``{"target": ..., "text": ...}`` records.
    """

    def __init__(self, diacritics=True, tatweel=True, alef=True, yaa=True, taa_marbuta=False, target_aware=False):
        self.diacritics = diacritics
        self.tatweel = tatweel
        self.alef = alef
        self.yaa = yaa
        self.taa_marbuta = taa_marbuta
        self.target_aware = target_aware

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        if hasattr(X, "columns"):
            # MLflow hands a plain list of strings over as a one-column DataFrame.
            column = X["text"] if "text" in X.columns else X.iloc[:, 0]
            targets = list(X["target"]) if self.target_aware and "target" in X.columns else None
            texts = compose_inputs(column, targets)
        else:
            texts = [str(x) for x in np.asarray(X, dtype=object).ravel()]
        flags = dict(diacritics=self.diacritics, tatweel=self.tatweel, alef=self.alef, yaa=self.yaa,
                     taa_marbuta=self.taa_marbuta)
        return np.array([normalize_arabic(t, **flags) for t in texts], dtype=object)
