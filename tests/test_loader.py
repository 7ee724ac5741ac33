"""One loader for every dataset: the project's folder, ArSarcasm-v2, Mawqif-style CSV, JSONL, hub ids."""

from __future__ import annotations

import csv
import json
import re
import shutil
import time

import pytest

from stancebench.corpus.annotation import LABELS
from stancebench.corpus.articles import segment_corpus
from stancebench.data.loader import STANDARD_COLUMNS, DataSpec, load_data
from stancebench.errors import UserError

from conftest import ARSARCASM, COMMITTED_DATASET, SEEDS

LABELLED_IDS = [s.id for s in segment_corpus(SEEDS) if not s.boilerplate]

MAWQIF_ROWS = [
    ("لقاح كورونا آمن وفعال وأنصح الجميع بأخذه", "Covid Vaccine", "Favor", "Positive"),
    ("لن أسمح لأطفالي بأخذ هذا اللقاح أبدا", "Covid Vaccine", "Against", "Negative"),
    ("المرأة السعودية تقود السيارة منذ عام 2018", "Women empowerment", "None", "Neutral"),
    ("التحول الرقمي في رؤية 2030 خطوة رائعة", "Digital Transformation", "FAVOR", "positive"),
]


def write_mawqif_csv(path, rows=MAWQIF_ROWS, header=("text", "target", "stance", "sentiment")):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def arsarcasm_spec() -> DataSpec:
    return DataSpec(
        name="arsarcasm-v2",
        source=str(ARSARCASM),
        splits={"train": "ArSarcasm-v2/training_data.csv", "test": "ArSarcasm-v2/testing_data.csv"},
        columns={"text": "tweet"},
        label_map={"sentiment": {"POS": "positive", "NEG": "negative", "NEU": "neutral"}},
    )


# ----------------------------------------------------------------- the project's own dataset


def test_project_dataset_folder_loads_with_standard_columns_and_gold_labels():
    ds = load_data(DataSpec(name="peace-talks-ar", source=str(COMMITTED_DATASET)))
    train = ds["test"]  # the real seed sentences; split train holds the written ones
    assert list(ds) == ["train", "test"] and train.column_names == list(STANDARD_COLUMNS)
    assert ds["train"].column_names == list(STANDARD_COLUMNS) and len(ds["train"]) >= 1500
    assert list(train["id"]) == LABELLED_IDS
    assert set(train["stance"]) <= set(LABELS["stance"]) and set(train["sentiment"]) <= set(LABELS["sentiment"])
    assert set(train["target"]) == {"peace talks"}
    assert set(train["fold"]) == set(range(5))


def test_project_dataset_folder_with_bad_checksums_is_refused(tmp_path):
    folder = tmp_path / "peace-talks-ar"
    shutil.copytree(COMMITTED_DATASET, folder)
    (folder / "agreement.json").write_text("{}\n", encoding="utf-8")
    with pytest.raises(UserError, match="agreement.json: checksum mismatch"):
        load_data(DataSpec(name="peace-talks-ar", source=str(folder)))


# ----------------------------------------------------------------- ArSarcasm-v2


@pytest.fixture(scope="module")
def arsarcasm():
    return load_data(arsarcasm_spec())


def test_arsarcasm_has_12548_train_and_3000_test_rows(arsarcasm):
    assert {split: ds.num_rows for split, ds in arsarcasm.items()} == {"train": 12548, "test": 3000}


def test_arsarcasm_sentiment_is_mapped_into_the_project_label_set(arsarcasm):
    for split in ("train", "test"):
        assert set(arsarcasm[split].unique("sentiment")) == set(LABELS["sentiment"])


def test_arsarcasm_has_no_stance_and_no_target(arsarcasm):
    for split in ("train", "test"):
        assert arsarcasm[split].unique("stance") == [None]
        assert arsarcasm[split].unique("target") == [None]


def test_arsarcasm_text_comes_from_the_tweet_column(arsarcasm):
    first = arsarcasm["train"][0]
    assert "#محمود_العلايلي" in first["text"]
    assert first["id"] == "arsarcasm-v2-train-000000" and first["fold"] == -1


def test_arsarcasm_without_the_label_map_names_file_line_and_the_fix():
    spec = arsarcasm_spec()
    spec.label_map = {}
    with pytest.raises(UserError) as err:
        load_data(spec)
    message = str(err.value)
    assert message.startswith(f"{ARSARCASM / 'ArSarcasm-v2' / 'training_data.csv'}:2: sentiment label")
    assert "data.label_map.sentiment" in message


# ----------------------------------------------------------------- Mawqif-style CSV


def test_mawqif_stance_none_becomes_the_label_none_not_missing(tmp_path):
    ds = load_data(DataSpec(name="mawqif", source=str(write_mawqif_csv(tmp_path / "mawqif.csv"))))["train"]
    assert list(ds["stance"]) == ["favor", "against", "none", "favor"]
    assert list(ds["sentiment"]) == ["positive", "negative", "neutral", "positive"]


def test_mawqif_target_and_text_are_kept(tmp_path):
    ds = load_data(DataSpec(name="mawqif", source=str(write_mawqif_csv(tmp_path / "mawqif.csv"))))["train"]
    assert ds[2]["text"] == "المرأة السعودية تقود السيارة منذ عام 2018"
    assert ds[2]["target"] == "Women empowerment"


def test_empty_label_cell_is_missing_not_an_error(tmp_path):
    path = write_mawqif_csv(tmp_path / "m.csv", rows=[("نص بلا موقف", "Covid Vaccine", "", "Neutral")])
    row = load_data(DataSpec(name="m", source=str(path)))["train"][0]
    assert row["stance"] is None and row["sentiment"] == "neutral"


def test_unknown_label_in_csv_names_file_and_csv_line(tmp_path):
    rows = [MAWQIF_ROWS[0], ("نص", "Covid Vaccine", "Neutral", "Neutral")]
    path = write_mawqif_csv(tmp_path / "m.csv", rows=rows)
    with pytest.raises(UserError) as err:
        load_data(DataSpec(name="m", source=str(path)))
    assert str(err.value).startswith(f"{path}:3: stance label 'Neutral' is not one of favor, against, none")


def test_missing_text_column_lists_the_columns(tmp_path):
    path = write_mawqif_csv(tmp_path / "m.csv", header=("tweet", "target", "stance", "sentiment"))
    with pytest.raises(UserError, match="no column 'text' .*tweet.*data.columns.text"):
        load_data(DataSpec(name="m", source=str(path)))


def test_tab_separated_file_is_read_with_tabs(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("text\tstance\nنعم للمفاوضات، لا للحرب\tFavor\n", encoding="utf-8")
    row = load_data(DataSpec(name="m", source=str(path)))["train"][0]
    assert (row["text"], row["stance"]) == ("نعم للمفاوضات، لا للحرب", "favor")


def test_csv_saved_with_a_byte_order_mark_still_finds_its_columns(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("text,stance\nالمحادثات مستمرة,None\n".encode("utf-8-sig"))
    row = load_data(DataSpec(name="m", source=str(path)))["train"][0]
    assert (row["text"], row["stance"]) == ("المحادثات مستمرة", "none")


def test_non_utf8_csv_is_a_one_line_error(tmp_path):
    path = tmp_path / "cp1256.csv"
    path.write_bytes("text,stance\n".encode() + "نعم للسلام,Favor\n".encode("cp1256"))
    with pytest.raises(UserError, match=re.escape(f"{path}: not valid UTF-8")):
        load_data(DataSpec(name="m", source=str(path)))


def test_non_integer_fold_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "folds.csv"
    path.write_text("text,fold\nجملة أولى,0\nجملة ثانية,first\n", encoding="utf-8")
    with pytest.raises(UserError, match=re.escape(f"{path}:3: fold 'first' is not an integer")):
        load_data(DataSpec(name="m", source=str(path)))


# ----------------------------------------------------------------- JSONL


def test_jsonl_file_with_column_and_label_mapping(tmp_path):
    path = tmp_path / "news.jsonl"
    records = [
        {"uid": "n1", "content": "الكرملين يرحب بالمحادثات", "pos": "PRO", "mood": "positive", "split_fold": 1},
        {"uid": "n2", "content": "موسكو ترفض التفاوض", "pos": "CON", "mood": None, "split_fold": 0},
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    spec = DataSpec(
        name="news",
        source=str(path),
        columns={"id": "uid", "text": "content", "stance": "pos", "sentiment": "mood", "fold": "split_fold"},
        label_map={"stance": {"PRO": "favor", "CON": "against"}},
        target="peace talks",
    )
    rows = load_data(spec)["train"].to_list()
    assert rows == [
        {"id": "n1", "text": "الكرملين يرحب بالمحادثات", "target": "peace talks", "stance": "favor",
         "sentiment": "positive", "fold": 1},
        {"id": "n2", "text": "موسكو ترفض التفاوض", "target": "peace talks", "stance": "against",
         "sentiment": None, "fold": 0},
    ]


def test_jsonl_saved_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes('{"text": "المحادثات مستمرة", "stance": "none"}\n'.encode("utf-8-sig"))
    row = load_data(DataSpec(name="bom", source=str(path)))["train"][0]
    assert (row["text"], row["stance"]) == ("المحادثات مستمرة", "none")


def test_invalid_jsonl_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "سطر سليم"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(UserError, match=re.escape(f"{path}:2: not valid JSON")):
        load_data(DataSpec(name="bad", source=str(path)))


def test_unknown_file_format_is_an_error(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(UserError, match="unknown format '.xlsx'"):
        load_data(DataSpec(name="x", source=str(path)))


# ----------------------------------------------------------------- hub ids and bad sources


def test_hub_id_offline_fails_fast_mentioning_the_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(UserError, match="hub") as err:
        load_data(DataSpec(name="remote", source="some-org/some-dataset"))
    assert time.perf_counter() - start < 5
    assert "some-org/some-dataset" in str(err.value)


def test_hub_id_with_unreachable_endpoint_fails_fast(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    start = time.perf_counter()
    with pytest.raises(UserError, match="127.0.0.1:9"):
        load_data(DataSpec(name="remote", source="some-org/some-dataset"))
    assert time.perf_counter() - start < 5


def test_source_that_is_neither_file_folder_nor_hub_id_is_an_error(tmp_path):
    with pytest.raises(UserError, match="not a file, folder or hub id"):
        load_data(DataSpec(name="x", source=str(tmp_path / "missing" / "file.csv")))


def test_splits_with_a_missing_file_name_the_file(tmp_path):
    spec = DataSpec(name="x", source=str(tmp_path), splits={"train": "train.csv"})
    with pytest.raises(UserError, match=re.escape(f"{tmp_path / 'train.csv'}: file not found")):
        load_data(spec)
