"""Label schema, annotator logs, adjudication, gold labels and agreement statistics."""

from __future__ import annotations

import json
import random
import re

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from stancebench.corpus.annotation import (
    DIMENSIONS,
    LABELS,
    cohen_kappa,
    gold_labels,
    krippendorff_alpha_nominal,
    read_adjudication,
    read_annotator_file,
    read_annotators,
)
from stancebench.corpus.articles import segment_corpus
from stancebench.errors import UserError

from conftest import ADJUDICATION, ANNOTATIONS, SEEDS

LABELLED_IDS = [s.id for s in segment_corpus(SEEDS) if not s.boilerplate]
FIRST, SECOND, THIRD = LABELLED_IDS[:3]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


# ----------------------------------------------------------------- agreement statistics


@pytest.mark.parametrize("seed", range(8))
def test_cohen_kappa_matches_sklearn_on_random_labels(seed):
    rng = random.Random(seed)
    labels = ["favor", "against", "none", "x"][: rng.randint(2, 4)]
    n = rng.randint(5, 200)
    a = [rng.choice(labels) for _ in range(n)]
    b = [x if rng.random() < 0.6 else rng.choice(labels) for x in a]
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


def test_cohen_kappa_of_identical_lists_is_one():
    assert cohen_kappa(["favor", "none", "against"], ["favor", "none", "against"]) == 1.0
    assert cohen_kappa(["none"] * 4, ["none"] * 4) == 1.0


def test_cohen_kappa_refuses_lists_of_different_length():
    with pytest.raises(ValueError):
        cohen_kappa(["favor"], ["favor", "none"])


def _random_reliability_data(seed: int) -> np.ndarray:
    """coders x units, values 0..k-1 with NaN for missing answers."""
    rng = np.random.default_rng(seed)
    coders, units, k = int(rng.integers(2, 6)), int(rng.integers(10, 80)), int(rng.integers(2, 5))
    truth = rng.integers(0, k, size=units)
    data = np.where(rng.random((coders, units)) < 0.7, truth, rng.integers(0, k, size=(coders, units))).astype(float)
    data[rng.random((coders, units)) < 0.25] = np.nan
    return data


@pytest.mark.parametrize("seed", range(8))
def test_krippendorff_alpha_matches_the_krippendorff_package_with_missing_values(seed):
    data = _random_reliability_data(seed)
    names = ["favor", "against", "none", "other"]
    units = [[None if np.isnan(v) else names[int(v)] for v in data[:, u]] for u in range(data.shape[1])]
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert krippendorff_alpha_nominal(units) == pytest.approx(expected, abs=1e-9)


def test_krippendorff_alpha_of_the_classic_four_coder_example_is_0_743():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers, 12 units, nominal.
    n = None
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    units = [[c[u] for c in coders] for u in range(12)]
    assert round(krippendorff_alpha_nominal(units), 3) == 0.743


def test_krippendorff_alpha_is_one_when_everybody_agrees():
    assert krippendorff_alpha_nominal([["favor", "favor"], ["none", "none", None], ["against", "against"]]) == 1.0


def test_krippendorff_alpha_needs_an_item_with_two_labels():
    with pytest.raises(ValueError):
        krippendorff_alpha_nominal([["favor", None], [None, None]])


# ----------------------------------------------------------------- the project's annotator files


def test_project_annotator_files_label_every_sentence_on_both_dimensions():
    annotators = read_annotators(ANNOTATIONS, known_ids=LABELLED_IDS)
    # Two passes under guidelines v1 and two re-checking the seed under v2.
    assert [a.annotator for a in annotators] == ["annotator_a", "annotator_b", "annotator_v2_a", "annotator_v2_b"]
    for a in annotators:
        assert a.complete_ids() == set(LABELLED_IDS)
        for dim in DIMENSIONS:
            assert set(a.labels[dim].values()) <= set(LABELS[dim])


def test_project_adjudication_resolves_every_disagreement():
    annotators = read_annotators(ANNOTATIONS, known_ids=LABELLED_IDS)
    decisions = read_adjudication(ADJUDICATION, known_ids=LABELLED_IDS)
    gold = gold_labels(annotators, decisions, LABELLED_IDS)
    assert set(gold) == set(LABELLED_IDS)
    for (sid, dim), decision in decisions.items():
        assert gold[sid][dim] == decision.label
    for sid in LABELLED_IDS:
        for dim in DIMENSIONS:
            votes = {a.labels[dim][sid] for a in annotators}
            if len(votes) == 1 and (sid, dim) not in decisions:
                assert gold[sid][dim] in votes


# ----------------------------------------------------------------- reading annotator logs


def test_a_log_replays_into_final_labels_with_retractions(tmp_path):
    path = write_jsonl(
        tmp_path / "sara.jsonl",
        [
            {"id": FIRST, "stance": "favor", "sentiment": "positive", "note": "يرحب بالقمة"},
            {"id": SECOND, "stance": "none"},
            {"id": FIRST, "retract": ["sentiment"]},
            {"id": FIRST, "sentiment": "neutral"},
        ],
    )
    result = read_annotator_file(path, known_ids=LABELLED_IDS)
    assert result.annotator == "sara"
    assert result.labels == {"stance": {FIRST: "favor", SECOND: "none"}, "sentiment": {FIRST: "neutral"}}
    assert result.complete_ids() == {FIRST}
    assert result.notes == {FIRST: "يرحب بالقمة"}


def test_unknown_sentence_id_names_file_and_line(tmp_path):
    path = write_jsonl(
        tmp_path / "sara.jsonl",
        [{"id": FIRST, "stance": "favor"}, {"id": "000_e513dfa207b60504-0000000000", "stance": "none"}],
    )
    with pytest.raises(UserError) as err:
        read_annotator_file(path, known_ids=LABELLED_IDS)
    assert str(err.value).startswith(f"{path}:2: unknown sentence id '000_e513dfa207b60504-0000000000'")


def test_label_outside_the_schema_names_file_line_and_allowed_labels(tmp_path):
    path = write_jsonl(tmp_path / "sara.jsonl", [{"id": FIRST, "stance": "pro"}])
    with pytest.raises(UserError) as err:
        read_annotator_file(path, known_ids=LABELLED_IDS)
    assert str(err.value) == f"{path}:1: stance 'pro' is not one of favor, against, none"


def test_sentiment_label_from_the_stance_set_is_refused(tmp_path):
    path = write_jsonl(tmp_path / "sara.jsonl", [{"id": FIRST, "sentiment": "favor"}])
    with pytest.raises(UserError, match=re.escape(f"{path}:1: sentiment 'favor'")):
        read_annotator_file(path)


def test_duplicate_answer_for_the_same_id_and_dimension_names_both_lines(tmp_path):
    path = write_jsonl(
        tmp_path / "sara.jsonl",
        [{"id": FIRST, "stance": "favor"}, {"id": SECOND, "stance": "none"}, {"id": FIRST, "stance": "against"}],
    )
    with pytest.raises(UserError) as err:
        read_annotator_file(path, known_ids=LABELLED_IDS)
    message = str(err.value)
    assert message.startswith(f"{path}:3: duplicate stance for id '{FIRST}'")
    assert "line 1" in message


def test_same_id_on_another_dimension_is_not_a_duplicate(tmp_path):
    path = write_jsonl(tmp_path / "sara.jsonl", [{"id": FIRST, "stance": "favor"}, {"id": FIRST, "sentiment": "neutral"}])
    assert read_annotator_file(path).complete_ids() == {FIRST}


def test_invalid_json_line_names_file_and_line(tmp_path):
    path = tmp_path / "sara.jsonl"
    path.write_text(json.dumps({"id": FIRST, "stance": "favor"}) + "\n\n{\"id\": oops}\n", encoding="utf-8")
    with pytest.raises(UserError, match=re.escape(f"{path}:3: not valid JSON")):
        read_annotator_file(path)


def test_retracting_an_unknown_dimension_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "sara.jsonl", [{"id": FIRST, "retract": ["emotion"]}])
    with pytest.raises(UserError, match=re.escape(f"{path}:1: cannot retract unknown dimension 'emotion'")):
        read_annotator_file(path)


def test_retract_must_be_a_list(tmp_path):
    path = write_jsonl(tmp_path / "sara.jsonl", [{"id": FIRST, "stance": "favor"}, {"id": FIRST, "retract": "stance"}])
    with pytest.raises(UserError, match=re.escape(f"{path}:2: \"retract\" must be a list")):
        read_annotator_file(path)


def test_non_utf8_annotation_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "sara.jsonl"
    path.write_bytes(b'{"id": "x", "note": "\xe4"}\n')
    with pytest.raises(UserError, match=re.escape(f"{path}: not valid UTF-8")):
        read_annotator_file(path)


# ----------------------------------------------------------------- adjudication


def decision(sid, dim="stance", label="none", reason="السبب مذكور"):
    return {"id": sid, "dimension": dim, "label": label, "reason": reason}


def test_duplicate_adjudication_names_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "adjudication.jsonl", [decision(FIRST), decision(SECOND), decision(FIRST, label="favor")])
    with pytest.raises(UserError) as err:
        read_adjudication(path, known_ids=LABELLED_IDS)
    assert str(err.value).startswith(f"{path}:3: duplicate adjudication for '{FIRST}' stance")


def test_adjudication_of_an_unknown_id_names_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "adjudication.jsonl", [decision("nope-123")])
    with pytest.raises(UserError, match=re.escape(f"{path}:1: unknown sentence id 'nope-123'")):
        read_adjudication(path, known_ids=LABELLED_IDS)


def test_adjudication_label_outside_the_schema_is_refused(tmp_path):
    path = write_jsonl(tmp_path / "adjudication.jsonl", [decision(FIRST, dim="sentiment", label="angry")])
    with pytest.raises(UserError, match=re.escape(f"{path}:1: sentiment 'angry' is not one of")):
        read_adjudication(path, known_ids=LABELLED_IDS)


def test_adjudication_needs_a_known_dimension_and_a_reason(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [decision(FIRST, dim="topic")])
    with pytest.raises(UserError, match="dimension 'topic'"):
        read_adjudication(path)
    path = write_jsonl(tmp_path / "b.jsonl", [decision(FIRST, reason="  ")])
    with pytest.raises(UserError, match=re.escape(f"{path}:1: an adjudication needs a \"reason\"")):
        read_adjudication(path)


def test_missing_adjudication_file_means_no_decisions(tmp_path):
    assert read_adjudication(tmp_path / "adjudication.jsonl") == {}


def test_non_utf8_adjudication_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "adjudication.jsonl"
    path.write_bytes(b'{"id": "x", "reason": "\xe4"}\n')
    with pytest.raises(UserError, match=re.escape(f"{path}: not valid UTF-8")):
        read_adjudication(path)


# ----------------------------------------------------------------- gold labels


def _two_annotators(tmp_path, a_records, b_records):
    write_jsonl(tmp_path / "a.jsonl", a_records)
    write_jsonl(tmp_path / "b.jsonl", b_records)
    return read_annotators(tmp_path, known_ids=LABELLED_IDS)


def test_unresolved_disagreement_is_an_error_naming_sentence_and_dimension(tmp_path):
    annotators = _two_annotators(
        tmp_path,
        [{"id": FIRST, "stance": "favor", "sentiment": "neutral"}],
        [{"id": FIRST, "stance": "against", "sentiment": "neutral"}],
    )
    with pytest.raises(UserError) as err:
        gold_labels(annotators, {}, [FIRST])
    assert f"sentence '{FIRST}'" in str(err.value) and "stance" in str(err.value) and "a=favor, b=against" in str(err.value)


def test_sentence_with_one_annotation_cannot_get_a_gold_label(tmp_path):
    annotators = _two_annotators(
        tmp_path,
        [{"id": FIRST, "stance": "favor", "sentiment": "neutral"}],
        [{"id": FIRST, "stance": "favor"}],
    )
    with pytest.raises(UserError, match="sentiment has 1 annotation"):
        gold_labels(annotators, {}, [FIRST])
