"""The plain scikit-learn baseline of bench_tfidf.py: ArSarcasm-v2 sentiment, word+char TF-IDF + LinearSVC.

No stancebench, no tracking: the same normalisation, features, classifier and settings as
``python -m stancebench train experiment=arsarcasm_sentiment``, written out by hand.
Usage: python plain_tfidf.py DATA_DIR PREDICTIONS_OUT
"""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.metrics import f1_score
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.svm import LinearSVC

DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
LABELS = {"POS": "positive", "NEG": "negative", "NEU": "neutral"}


def normalise(text: str) -> str:
    text = DIACRITICS.sub("", text).replace("\u0640", "")
    text = re.sub("[\u0622\u0623\u0625\u0671]", "\u0627", text)
    return text.replace("\u0649", "\u064a")


def read(path: Path):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame[frame["tweet"].str.strip() != ""]
    return [normalise(t) for t in frame["tweet"]], [LABELS[s] for s in frame["sentiment"]]


def main(data_dir: str, out: str) -> None:
    root = Path(data_dir) / "ArSarcasm-v2"
    x_train, y_train = read(root / "training_data.csv")
    x_test, y_test = read(root / "testing_data.csv")
    def tfidf(analyzer, ngram_range):
        counts = HashingVectorizer(analyzer=analyzer, ngram_range=ngram_range, n_features=2**20,
                                   alternate_sign=False, norm=None, token_pattern=r"(?u)\b\w+\b")
        return make_pipeline(counts, TfidfTransformer(sublinear_tf=True))

    features = FeatureUnion([("word", tfidf("word", (1, 2))), ("char", tfidf("char_wb", (2, 5)))])
    clf = LinearSVC(C=0.5, class_weight="balanced", max_iter=2000, random_state=0)
    clf.fit(features.fit_transform(x_train), np.asarray(y_train, dtype=object))
    predicted = clf.predict(features.transform(x_test))
    f1 = f1_score(y_test, predicted, labels=["positive", "negative", "neutral"], average=None)
    scores = {"macro_f1": float(np.mean(f1)), "f1_pn": float(np.mean(f1[:2]))}
    Path(out).write_text(json.dumps({"scores": scores, "predicted": list(predicted)}), encoding="utf-8")
    print(json.dumps(scores))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
