"""Scores (accuracy, macro-F1, per-label F1, f_avg, f1_pn), bootstrap intervals and the evaluate module."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from stancebench.experiment.metrics import metric_path
from stancebench.experiment.scoring import bootstrap_interval, classification_scores

from training_helpers import SENTIMENT_LABELS, STANCE_LABELS

TASKS = {"stance": STANCE_LABELS, "sentiment": SENTIMENT_LABELS}


def random_labels(labels, n, seed, p=None):
    rng = np.random.default_rng(seed)
    gold = list(rng.choice(labels, size=n, p=p))
    # Predictions right about 60% of the time, otherwise random: realistic, never degenerate.
    pred = [g if rng.random() < 0.6 else str(rng.choice(labels)) for g in gold]
    return [str(g) for g in gold], pred


@pytest.mark.parametrize("task", ["stance", "sentiment"])
@pytest.mark.parametrize("seed", range(5))
def test_scores_match_sklearn_on_random_labels(task, seed):
    labels = TASKS[task]
    gold, pred = random_labels(labels, 60 + 17 * seed, seed, p=[0.5, 0.2, 0.3])
    scores = classification_scores(gold, pred, labels, task)
    assert scores["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    assert scores["macro_f1"] == pytest.approx(f1_score(gold, pred, labels=labels, average="macro", zero_division=0))
    per_label = f1_score(gold, pred, labels=labels, average=None, zero_division=0)
    for label, value in zip(labels, per_label):
        assert scores[f"f1_{label}"] == pytest.approx(value)


def test_a_label_absent_from_gold_and_predictions_counts_as_zero_like_sklearn():
    gold = ["favor", "favor", "none", "none", "favor"]
    pred = ["favor", "none", "none", "none", "favor"]
    scores = classification_scores(gold, pred, STANCE_LABELS, "stance")
    assert scores["f1_against"] == 0.0
    assert scores["macro_f1"] == pytest.approx(
        f1_score(gold, pred, labels=STANCE_LABELS, average="macro", zero_division=0))
    # favor: tp 2, fn 1 -> 0.8; none: tp 2, fp 1 -> 0.8; against absent -> 0.
    assert scores["f1_favor"] == pytest.approx(0.8) and scores["f1_none"] == pytest.approx(0.8)
    assert scores["macro_f1"] == pytest.approx(1.6 / 3)


def test_f_avg_is_the_mean_f1_of_favor_and_against():
    gold, pred = random_labels(STANCE_LABELS, 200, 11)
    scores = classification_scores(gold, pred, STANCE_LABELS, "stance")
    expected = np.mean(f1_score(gold, pred, labels=["favor", "against"], average=None, zero_division=0))
    assert scores["f_avg"] == pytest.approx(expected)
    assert scores["f_avg"] == pytest.approx((scores["f1_favor"] + scores["f1_against"]) / 2)
    # "none" is left out: f_avg differs from the three-label macro-F1.
    assert scores["f_avg"] != pytest.approx(scores["macro_f1"])
    assert "f1_pn" not in scores


def test_f1_pn_is_the_mean_f1_of_positive_and_negative():
    gold, pred = random_labels(SENTIMENT_LABELS, 200, 12)
    scores = classification_scores(gold, pred, SENTIMENT_LABELS, "sentiment")
    expected = np.mean(f1_score(gold, pred, labels=["positive", "negative"], average=None, zero_division=0))
    assert scores["f1_pn"] == pytest.approx(expected)
    assert scores["f1_pn"] == pytest.approx((scores["f1_positive"] + scores["f1_negative"]) / 2)
    assert "f_avg" not in scores


def test_hand_computed_stance_example():
    gold = ["favor", "against", "none", "favor"]
    pred = ["favor", "favor", "none", "against"]
    scores = classification_scores(gold, pred, STANCE_LABELS, "stance")
    # favor: tp1 fp1 fn1 -> 0.5; against: tp0 fp1 fn1 -> 0; none: tp1 -> 1.
    assert scores == pytest.approx({"accuracy": 0.5, "macro_f1": 0.5, "f1_favor": 0.5, "f1_against": 0.0,
                                    "f1_none": 1.0, "f_avg": 0.25})


def test_no_task_gives_no_pair_score_and_bad_input_is_an_error():
    scores = classification_scores(["a", "b"], ["a", "a"], ["a", "b"])
    assert set(scores) == {"accuracy", "macro_f1", "f1_a", "f1_b"}
    with pytest.raises(ValueError, match="2 references but 1 predictions"):
        classification_scores(["a", "b"], ["a"], ["a", "b"])
    with pytest.raises(ValueError, match="no items"):
        classification_scores([], [], ["a", "b"])


# --- bootstrap ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("task, metric", [("stance", "macro_f1"), ("stance", "f_avg"), ("sentiment", "f1_pn"),
                                          ("sentiment", "accuracy")])
def test_bootstrap_interval_contains_the_point_estimate(task, metric):
    labels = TASKS[task]
    gold, pred = random_labels(labels, 300, 5)
    point = classification_scores(gold, pred, labels, task)[metric]
    low, high = bootstrap_interval(gold, pred, labels, task, metric, n_resamples=1000, confidence=0.95, seed=0)
    assert 0.0 <= low < point < high <= 1.0
    # 300 items: the 95% interval is a few points wide, not degenerate and not the whole range.
    assert 0.02 < high - low < 0.3


def test_bootstrap_is_deterministic_given_the_seed():
    gold, pred = random_labels(STANCE_LABELS, 120, 3)
    first = bootstrap_interval(gold, pred, STANCE_LABELS, "stance", "macro_f1", 500, 0.95, seed=42)
    again = bootstrap_interval(gold, pred, STANCE_LABELS, "stance", "macro_f1", 500, 0.95, seed=42)
    other = bootstrap_interval(gold, pred, STANCE_LABELS, "stance", "macro_f1", 500, 0.95, seed=43)
    assert first == again
    assert first != other


def test_higher_confidence_gives_a_wider_interval_on_the_same_resamples():
    gold, pred = random_labels(SENTIMENT_LABELS, 150, 8)
    low90, high90 = bootstrap_interval(gold, pred, SENTIMENT_LABELS, "sentiment", "macro_f1", 800, 0.90, seed=1)
    low99, high99 = bootstrap_interval(gold, pred, SENTIMENT_LABELS, "sentiment", "macro_f1", 800, 0.99, seed=1)
    assert low99 <= low90 < high90 <= high99
    assert (high99 - low99) > (high90 - low90)


def test_bootstrap_matches_a_plain_resampling_loop():
    """Same distribution as resampling items one set at a time and scoring each with classification_scores."""
    gold, pred = random_labels(STANCE_LABELS, 80, 21, p=[0.6, 0.15, 0.25])
    rng = np.random.default_rng(7)
    g, p = np.asarray(gold, dtype=object), np.asarray(pred, dtype=object)
    values = []
    for _ in range(3000):
        idx = rng.integers(0, len(g), len(g))
        values.append(classification_scores(g[idx], p[idx], STANCE_LABELS, "stance")["macro_f1"])
    reference = np.quantile(values, [0.025, 0.975])
    low, high = bootstrap_interval(gold, pred, STANCE_LABELS, "stance", "macro_f1", 3000, 0.95, seed=0)
    assert low == pytest.approx(reference[0], abs=0.03)
    assert high == pytest.approx(reference[1], abs=0.03)


def test_perfect_predictions_have_a_degenerate_accuracy_interval():
    gold = ["favor", "against", "none"] * 10
    assert bootstrap_interval(gold, gold, STANCE_LABELS, "stance", "accuracy", 200, 0.95, 0) == (1.0, 1.0)


def test_the_bootstrap_wider_on_less_data():
    gold, pred = random_labels(STANCE_LABELS, 400, 9)
    low_s, high_s = bootstrap_interval(gold[:40], pred[:40], STANCE_LABELS, "stance", "accuracy", 1000, 0.95, 0)
    low_l, high_l = bootstrap_interval(gold, pred, STANCE_LABELS, "stance", "accuracy", 1000, 0.95, 0)
    assert (high_s - low_s) > (high_l - low_l)


# --- the evaluate metric module ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def metric_module():
    try:  # the project's way: keeps torch out of the import when it can
        from stancebench.lazy import import_without_torch

        evaluate = import_without_torch("evaluate")
    except ImportError:
        import evaluate
    path = metric_path("stance_sentiment_scores")
    assert path.is_absolute() and (path / "stance_sentiment_scores.py").is_file()
    return evaluate.load(str(path))


# Not marked slow: with torch kept out (stancebench.lazy) `import evaluate` takes ~3.5 s on 2 cores.
@pytest.mark.parametrize("task", ["stance", "sentiment"])
def test_evaluate_module_loaded_by_path_gives_the_same_numbers(metric_module, task):
    labels = TASKS[task]
    gold, pred = random_labels(labels, 120, 4)
    via_evaluate = metric_module.compute(predictions=pred, references=gold, labels=labels, task=task)
    direct = classification_scores(gold, pred, labels, task)
    assert set(via_evaluate) == set(direct)
    assert via_evaluate == pytest.approx(direct)
    assert via_evaluate["macro_f1"] == pytest.approx(
        f1_score(gold, pred, labels=labels, average="macro", zero_division=0))
    assert ({"stance": "f_avg", "sentiment": "f1_pn"}[task]) in via_evaluate


def test_evaluate_module_docstring_example(metric_module):
    scores = metric_module.compute(predictions=["favor"], references=["favor"], labels=STANCE_LABELS, task="stance")
    assert scores["f_avg"] == 0.5 and scores["accuracy"] == 1.0 and scores["f1_favor"] == 1.0


def test_resampled_scores_of_one_system_reproduce_bootstrap_interval():
    from stancebench.experiment.scoring import percentile_interval, resampled_scores

    gold, pred = random_labels(STANCE_LABELS, 150, 3)
    values = resampled_scores(gold, [[pred]], STANCE_LABELS, "stance", "f_avg", 700, seed=5)[0]
    assert percentile_interval(values) == bootstrap_interval(gold, pred, STANCE_LABELS, "stance", "f_avg", 700, 0.95, 5)


def test_resampled_scores_average_the_runs_of_a_system():
    from stancebench.experiment.scoring import resampled_scores

    gold, first = random_labels(SENTIMENT_LABELS, 120, 4)
    _, second = random_labels(SENTIMENT_LABELS, 120, 5)
    both = resampled_scores(gold, [[first, second], [first], [second]], SENTIMENT_LABELS, "sentiment", "macro_f1",
                            300, seed=1)
    # Shared resamples: the two-run system is exactly the mean of the one-run systems, resample by resample.
    np.testing.assert_allclose(both[0], (both[1] + both[2]) / 2)


def test_paired_bootstrap_of_a_system_against_itself_finds_no_difference():
    from stancebench.experiment.scoring import paired_bootstrap

    gold, pred = random_labels(STANCE_LABELS, 200, 6)
    result = paired_bootstrap(gold, [pred], [pred], STANCE_LABELS, "stance", "macro_f1", 500, seed=0)
    assert result["delta"] == 0.0 and result["ci_low"] == result["ci_high"] == 0.0
    assert result["p_value"] == 1.0


def test_paired_bootstrap_detects_a_clearly_better_system_and_not_a_coin_flip():
    from stancebench.experiment.scoring import paired_bootstrap

    rng = np.random.default_rng(0)
    gold = [str(g) for g in rng.choice(STANCE_LABELS, 300)]
    good = [g if rng.random() < 0.85 else str(rng.choice(STANCE_LABELS)) for g in gold]
    poor = [g if rng.random() < 0.45 else str(rng.choice(STANCE_LABELS)) for g in gold]
    clear = paired_bootstrap(gold, [good], [poor], STANCE_LABELS, "stance", "macro_f1", 2000, seed=0)
    assert clear["delta"] > 0.2 and clear["p_value"] < 0.01 and clear["ci_low"] > 0
    # Two systems drawn the same way differ by chance only: p < 0.05 about one time in twenty.
    rejections = 0
    for trial in range(20):
        one, two = ([g if rng.random() < 0.85 else str(rng.choice(STANCE_LABELS)) for g in gold] for _ in range(2))
        rejections += paired_bootstrap(gold, [one], [two], STANCE_LABELS, "stance", "macro_f1", 1000,
                                       seed=trial)["p_value"] < 0.05
    assert rejections <= 4


def test_mcnemar_counts_discordant_items_and_matches_the_exact_binomial():
    from math import comb

    from stancebench.experiment.scoring import mcnemar_exact

    gold = ["favor"] * 20
    a = ["favor"] * 12 + ["none"] * 8            # right on the first 12
    b = ["none"] * 10 + ["favor"] * 4 + ["none"] * 6  # right on items 10..13
    result = mcnemar_exact(gold, a, b)
    # a alone right: items 0..9 (10); b alone right: none of them, items 12, 13 (2).
    assert (result["a_only_correct"], result["b_only_correct"]) == (10, 2)
    expected = 2 * sum(comb(12, k) for k in range(3)) / 2 ** 12
    assert result["p_value"] == pytest.approx(expected)
    assert mcnemar_exact(gold, a, a)["p_value"] == 1.0


def test_early_stopping_scores_macro_f1_like_the_logged_metric():
    """One macro-F1 definition: the Trainer's validation score averages over every label of the model,
    as the logged macro_f1 averages over the task's labels (a label absent from a small validation
    split counts as 0, it is not dropped)."""
    from stancebench.models.trainer import macro_f1 as _macro_f1

    labels = ["favor", "against", "none"]
    gold = np.array([0, 0, 2, 2, 2])  # no "against" in this validation split
    logits = np.eye(3)[[0, 2, 2, 2, 0]]
    got = _macro_f1((logits, gold))
    expected = classification_scores([labels[i] for i in gold], [labels[i] for i in np.argmax(logits, 1)], labels)
    assert got["macro_f1"] == pytest.approx(expected["macro_f1"])
    # favor F1 0.5, against 0 (neither gold nor predicted), none F1 2/3: over the three labels, not two.
    assert got["macro_f1"] == pytest.approx((0.5 + 0.0 + 2 / 3) / 3)
    assert got["accuracy"] == pytest.approx(0.6)
