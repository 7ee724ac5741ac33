"""Evaluation protocols on real Arabic sentences with the real TF-IDF classifier."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from stancebench.errors import UserError
from stancebench.experiment.protocols import Items, choose_protocol, run_protocol
from stancebench.models.tfidf import TfidfClassifier

from training_helpers import (
    ARSARCASM,
    SENTIMENT_LABELS,
    STANCE_LABELS,
    runs_of,
    sentences,
    train_cfg,
)


def items_for(task: str) -> Items:
    rows = sentences()
    return Items([r["id"] for r in rows], [r["text"] for r in rows], [r["target"] for r in rows],
                 [r[task] for r in rows])


@pytest.fixture(scope="module")
def stance() -> Items:
    items = items_for("stance")
    assert len(items) == 13 and set(items.labels) == set(STANCE_LABELS)
    return items


@pytest.fixture(scope="module")
def sentiment() -> Items:
    return items_for("sentiment")


def factory_for(classifier: str):
    return lambda: TfidfClassifier(classifier=classifier, C=1.0)


# --- the TF-IDF model the protocols train ---------------------------------------------------------------


@pytest.mark.parametrize("classifier", ["logreg", "svm"])
def test_tfidf_classifier_learns_only_the_columns_it_has_seen(stance, classifier):
    """Hashed features span millions of columns; the linear model is fit on those the sentences use."""
    from sklearn.pipeline import Pipeline

    model = factory_for(classifier)().fit(stance.texts[:10], stance.labels[:10], seed=0)
    coef = model.pipeline_[-1].coef_
    assert 100 < coef.shape[1] < 50_000
    if classifier == "logreg":
        return  # the comparison below fits LogisticRegression on every hashed column: ~10 s
    # Dropping never-seen columns changes no score: the same pipeline without that step agrees.
    steps = [(name, step) for name, step in model._pipeline(0).steps if name != "used"]
    assert len(steps) == len(model.pipeline_.steps) - 1
    full = Pipeline(steps).fit(model.input_example(stance.texts[:10]), np.asarray(stance.labels[:10], dtype=object))
    x = model.input_example(stance.texts[10:])
    expected = full.decision_function(x)
    np.testing.assert_allclose(model.predict_scores(stance.texts[10:]), expected, atol=1e-6)
    assert model.predict(stance.texts[10:]) == list(full.predict(x))


def test_tfidf_classifier_handles_arabic_variants_alike(stance):
    """Diacritics and tatweel are normalised away before the features: the same sentence scores the same."""
    model = factory_for("logreg")().fit(stance.texts, stance.labels, seed=0)
    plain = stance.texts[0]
    decorated = plain.replace("ال", "الــ", 2)[:-1] + "َ" + plain[-1]
    assert decorated != plain
    np.testing.assert_allclose(model.predict_scores([decorated]), model.predict_scores([plain]))


# --- choose_protocol ---------------------------------------------------------------------------------


def test_auto_is_holdout_with_a_test_split():
    assert choose_protocol("auto", True, 10, 100) == "holdout"
    assert choose_protocol("auto", True, 100_000, 100) == "holdout"


def test_auto_without_a_test_split_is_loo_for_tiny_data_else_kfold():
    assert choose_protocol("auto", False, 13, 100) == "loo"
    assert choose_protocol("auto", False, 100, 100) == "loo"
    assert choose_protocol("auto", False, 101, 100) == "kfold"


def test_explicit_protocols_pass_through():
    for protocol in ("kfold", "loo", "cross_dataset"):
        assert choose_protocol(protocol, False, 13, 100) == protocol
    assert choose_protocol("holdout", True, 13, 100) == "holdout"


def test_holdout_without_a_test_split_and_unknown_protocols_are_user_errors():
    with pytest.raises(UserError, match="needs a dataset with a test split"):
        choose_protocol("holdout", False, 13, 100)
    with pytest.raises(UserError, match="'bootstrap' is not one of"):
        choose_protocol("bootstrap", True, 13, 100)


# --- holdout -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("classifier", ["logreg", "svm"])
def test_holdout_predicts_the_evaluation_items_with_the_trained_model(stance, classifier):
    train, test = stance.subset(range(9)), stance.subset(range(9, 13))
    preds, model = run_protocol("holdout", factory_for(classifier), train, test, STANCE_LABELS, seed=0)
    assert preds.items.ids == test.ids
    assert len(preds.predicted) == 4 and set(preds.predicted) <= set(train.labels)
    assert preds.folds == [0] * 4
    assert preds.score_labels == STANCE_LABELS and preds.scores.shape == (4, 3)
    # The logged model is the one that made the predictions, trained on the training items only.
    assert model.predict(test.texts) == preds.predicted
    assert sorted(model.labels_) == sorted(set(train.labels))
    # A class the training split lacks can never be predicted: its score column is -inf.
    for j, label in enumerate(STANCE_LABELS):
        if label not in train.labels:
            assert np.all(preds.scores[:, j] == -np.inf)


def test_holdout_without_evaluation_items_is_a_user_error(stance):
    with pytest.raises(UserError, match="no evaluation items"):
        run_protocol("holdout", factory_for("svm"), stance, None, STANCE_LABELS, seed=0)


# --- k-fold --------------------------------------------------------------------------------------------


def test_kfold_predicts_every_item_exactly_once_out_of_fold(sentiment):
    k = 2  # the seed has two positive sentences: with 2 folds every fold still holds each class
    preds, final = run_protocol("kfold", factory_for("logreg"), sentiment, None, SENTIMENT_LABELS, seed=0, k=k)
    assert preds.items.ids == sentiment.ids  # each item once, in the input order
    assert len(set(preds.items.ids)) == len(sentiment)
    assert len(preds.folds) == len(sentiment) and set(preds.folds) == set(range(k))
    sizes = Counter(preds.folds)
    assert max(sizes.values()) - min(sizes.values()) <= 1
    # Stratified: sentiment has >= k items per class, so every fold holds each class.
    for fold in range(k):
        assert {lab for lab, f in zip(sentiment.labels, preds.folds) if f == fold} == set(SENTIMENT_LABELS)
    # Out of fold: each fold's predictions are those of a model trained on the other folds only.
    for fold in range(k):
        test_idx = [i for i, f in enumerate(preds.folds) if f == fold]
        train_idx = [i for i, f in enumerate(preds.folds) if f != fold]
        model = factory_for("logreg")().fit([sentiment.texts[i] for i in train_idx],
                                            [sentiment.labels[i] for i in train_idx], seed=0)
        expected = model.predict([sentiment.texts[i] for i in test_idx])
        assert [preds.predicted[i] for i in test_idx] == expected
    # The model to log is refit on all items.
    assert sorted(final.labels_) == sorted(SENTIMENT_LABELS)


def test_kfold_is_reproducible_and_the_seed_changes_the_folds(stance):
    a, _ = run_protocol("kfold", factory_for("svm"), stance, None, STANCE_LABELS, seed=1, k=3)
    b, _ = run_protocol("kfold", factory_for("svm"), stance, None, STANCE_LABELS, seed=1, k=3)
    c, _ = run_protocol("kfold", factory_for("svm"), stance, None, STANCE_LABELS, seed=2, k=3)
    assert a.folds == b.folds and a.predicted == b.predicted
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.folds != c.folds


def test_kfold_with_more_folds_than_items_or_classes_is_a_user_error(stance):
    with pytest.raises(UserError, match="eval.k=14"):
        run_protocol("kfold", factory_for("svm"), stance, None, STANCE_LABELS, seed=0, k=14)
    with pytest.raises(UserError, match="eval.k=1 "):
        run_protocol("kfold", factory_for("svm"), stance, None, STANCE_LABELS, seed=0, k=1)
    # 2 + 2 items: three folds cannot be stratified (sklearn's ValueError must not leak out).
    four = stance.subset([i for i, lab in enumerate(stance.labels) if lab == "favor"][:2]
                         + [i for i, lab in enumerate(stance.labels) if lab == "none"][:2])
    assert sorted(Counter(four.labels).values()) == [2, 2]
    with pytest.raises(UserError, match="eval.k=3"):
        run_protocol("kfold", factory_for("svm"), four, None, STANCE_LABELS, seed=0, k=3)


def test_a_training_fold_with_one_class_is_a_user_error(stance):
    # Three "favor" and one "against": the fold that holds out "against" trains on one class.
    favor = [i for i, lab in enumerate(stance.labels) if lab == "favor"][:3]
    against = [i for i, lab in enumerate(stance.labels) if lab == "against"]
    tiny = stance.subset(favor + against)
    with pytest.raises(UserError, match="training fold .* has one class only \\('favor'\\)"):
        run_protocol("kfold", factory_for("svm"), tiny, None, STANCE_LABELS, seed=0, k=2)
    with pytest.raises(UserError, match="one class only"):
        run_protocol("loo", factory_for("svm"), tiny, None, STANCE_LABELS, seed=0)


# --- leave-one-out -------------------------------------------------------------------------------------


def test_loo_has_one_fold_per_item(stance):
    preds, final = run_protocol("loo", factory_for("logreg"), stance, None, STANCE_LABELS, seed=0)
    n = len(stance)
    assert preds.items.ids == stance.ids
    assert sorted(preds.folds) == list(range(n))
    assert set(preds.predicted) <= set(STANCE_LABELS)
    # The single "against" sentence is held out once: its fold never saw the class, so cannot predict it.
    (i,) = [j for j, lab in enumerate(stance.labels) if lab == "against"]
    assert preds.scores[i, STANCE_LABELS.index("against")] == -np.inf
    assert preds.predicted[i] != "against"
    # Item i's prediction comes from a model trained on the other twelve sentences.
    others = [j for j in range(n) if j != i]
    model = factory_for("logreg")().fit([stance.texts[j] for j in others], [stance.labels[j] for j in others])
    assert model.predict([stance.texts[i]]) == [preds.predicted[i]]
    assert sorted(final.labels_) == sorted(STANCE_LABELS)


def test_unknown_protocol_in_run_protocol_is_a_user_error(stance):
    with pytest.raises(UserError, match="'nope' is not one of"):
        run_protocol("nope", factory_for("svm"), stance, None, STANCE_LABELS, seed=0)


# --- cross-dataset, through train() ---------------------------------------------------------------------


@pytest.mark.slow
def test_cross_dataset_trains_on_arsarcasm_and_scores_all_of_peace_talks(tmp_path):
    from stancebench.experiment.train import train

    assert (ARSARCASM / "ArSarcasm-v2" / "training_data.csv").is_file(), "shared ArSarcasm-v2 is missing"
    cfg = train_cfg(tmp_path, "data=arsarcasm_v2", "task=sentiment", "model=tfidf_svm", "eval=cross_dataset",
                    "max_train_samples=300")
    result = train(cfg)
    assert result["protocol"] == "cross_dataset"
    assert result["metrics"]["n_eval"] == 13
    (run,) = runs_of(tmp_path)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["n_eval"] == 13
    assert run.data.params["n_train"] == "300"
    assert run.data.tags["dataset"] == "arsarcasm-v2"
    assert run.data.tags["eval_dataset"] == "peace-talks-ar"
    assert run.data.tags["protocol"] == "cross_dataset"
    assert "f1_pn" in run.data.metrics
    lines = (tmp_path / "out" / "run" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 13
    assert {json.loads(line)["id"] for line in lines} == {r["id"] for r in sentences()}
