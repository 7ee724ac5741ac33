"""The labelled dataset: build, card and agreement, determinism, atomicity, validate, publish, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest

from stancebench.corpus import dataset as dataset_module
from stancebench.corpus.annotation import (
    DIMENSIONS,
    LABELS,
    TARGET,
    agreement_report,
    gold_labels,
    read_adjudication,
    read_annotators,
)
from stancebench.corpus.articles import segment_corpus
from stancebench.corpus.dataset import (
    CHECKSUM_FILE,
    DATA_FILES,
    ProjectPaths,
    build,
    publish,
    validate,
)
from stancebench.corpus.labelled import SENTENCE_COLUMNS, build_rows
from stancebench.errors import UserError

from conftest import ADJUDICATION, ANNOTATIONS, COMMITTED_DATASET, SEEDS, folder_bytes

SEGMENTS = segment_corpus(SEEDS)
LABELLED = [s for s in SEGMENTS if not s.boilerplate]
LABELLED_IDS = [s.id for s in LABELLED]

SECOND_ARTICLE = (
    "قال الرئيس الأوكراني فولوديمير زيلينسكي إن كييف مستعدة لمحادثات سلام عادلة.\n"
    "وأضاف: “لن نتنازل عن أي شبر من أرضنا. الحرب يجب أن تنتهي بسلام دائم”.\n"
    "اشترك في النشرة البريدية\n"
)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def tmp_leftovers(output: Path) -> list[Path]:
    return sorted(output.parent.glob(f".{output.name}.*"))


def add_second_article(root: Path) -> list[str]:
    """Add a made-up Arabic article with both annotators' labels for it; returns its labelled ids."""
    (root / "seeds" / "001_zelensky.txt").write_text(SECOND_ARTICLE, encoding="utf-8")
    new_ids = [s.id for s in segment_corpus(root / "seeds") if s.article_id == "001_zelensky" and not s.boilerplate]
    for name in ("annotator_a", "annotator_b"):
        with open(root / "data" / "annotations" / f"{name}.jsonl", "a", encoding="utf-8") as f:
            for sid in new_ids:
                f.write(json.dumps({"id": sid, "stance": "favor", "sentiment": "positive"}, ensure_ascii=False) + "\n")
    return new_ids


def recompute_checksums(folder: Path) -> None:
    lines = "".join(f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in DATA_FILES)
    (folder / CHECKSUM_FILE).write_text(lines, encoding="utf-8")


def assert_one_line_error(result, *fragments: str) -> str:
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in result.stderr
    return lines[0]


# ----------------------------------------------------------------- the committed dataset


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    return datasets.load_dataset(str(COMMITTED_DATASET), cache_dir=str(tmp_path_factory.mktemp("hf-cache")))


def test_load_dataset_test_split_is_every_non_boilerplate_seed_sentence(committed):
    test = committed["test"]
    assert list(committed) == ["train", "test"]
    assert list(test["id"]) == LABELLED_IDS
    assert list(test["text"]) == [s.text for s in LABELLED]
    assert test.column_names == list(SENTENCE_COLUMNS) == committed["train"].column_names


def test_load_dataset_gives_the_gold_labels_computed_from_the_annotator_files(committed):
    annotators = read_annotators(ANNOTATIONS, known_ids=LABELLED_IDS)
    gold = gold_labels(annotators, read_adjudication(ADJUDICATION, known_ids=LABELLED_IDS), LABELLED_IDS)
    for row in committed["test"]:
        assert row["target"] == TARGET
        for dim in DIMENSIONS:
            assert row[dim] in LABELS[dim]
            assert row[dim] == gold[row["id"]][dim]


def test_load_dataset_segments_config_keeps_boilerplate_on_record(tmp_path):
    segments = datasets.load_dataset(str(COMMITTED_DATASET), "segments", cache_dir=str(tmp_path))["train"]
    assert list(segments["id"]) == [s.id for s in SEGMENTS]
    assert list(segments["boilerplate_rule"])[:2] == ["newsletter", "guide-promo"]
    assert sum(segments["boilerplate"]) == 2


def test_load_dataset_works_offline(tmp_path):
    code = (
        "import datasets, json, sys; d = datasets.load_dataset(sys.argv[1], cache_dir=sys.argv[2]);"
        "print(json.dumps(list(d['test']['id'])))"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9")
    result = subprocess.run(
        [sys.executable, "-c", code, str(COMMITTED_DATASET), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == LABELLED_IDS


def test_committed_agreement_json_matches_what_the_code_computes():
    annotators = read_annotators(ANNOTATIONS, known_ids=LABELLED_IDS)
    recomputed = agreement_report(annotators, LABELLED_IDS)
    assert json.loads((COMMITTED_DATASET / "agreement.json").read_text(encoding="utf-8"))["seed"] == recomputed


def test_card_agreement_table_matches_what_the_code_computes():
    recomputed = agreement_report(read_annotators(ANNOTATIONS, known_ids=LABELLED_IDS), LABELLED_IDS)
    card = (COMMITTED_DATASET / "README.md").read_text(encoding="utf-8")
    for dim in DIMENSIONS:
        a = recomputed[dim]
        row = (
            f"| `seed` | {dim} | {len(a['annotators'])} | {a['items']} | {a['percent_agreement']:.3f} "
            f"| {a['cohen_kappa']:.3f} | {a['krippendorff_alpha']:.3f} |"
        )
        assert any(line.startswith(row) for line in card.splitlines()), row


def test_card_label_distribution_matches_the_rows():
    rows = read_jsonl(COMMITTED_DATASET / "data" / "sentences.jsonl")
    card = (COMMITTED_DATASET / "README.md").read_text(encoding="utf-8")
    for dim in DIMENSIONS:
        cells = [f"`{label}` {sum(r[dim] == label for r in rows)} "
                 f"({sum(r[dim] == label for r in rows) / len(rows):.0%})" for label in LABELS[dim]]
        assert f"| `seed` | {dim} | " + " | ".join(cells) + " |" in card


def test_card_header_declares_every_config():
    header = (COMMITTED_DATASET / "README.md").read_text(encoding="utf-8").split("---")[1]
    for config in ("default", "seed", "synthetic", "fignews-2024", "segments"):
        assert f"- config_name: {config}\n  data_files:" in header
    assert "path: data/sentences.jsonl" in header and "- split: test" in header


def test_committed_checksums_are_sha256sum_format_and_correct():
    lines = (COMMITTED_DATASET / CHECKSUM_FILE).read_text(encoding="utf-8").splitlines()
    listed = [line.split("  ", 1)[1] for line in lines]
    assert set(DATA_FILES) <= set(listed) and "data/synthetic.jsonl" in listed
    assert not any("fignews" in name for name in listed)  # text kept upstream is never in the committed sums
    for line in lines:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((COMMITTED_DATASET / name).read_bytes()).hexdigest() == digest


def test_validate_accepts_the_committed_dataset():
    result = validate(COMMITTED_DATASET)
    assert result["sentences"] == len(LABELLED_IDS)
    assert sum(result["labels"]["stance"].values()) == len(LABELLED_IDS)


# ----------------------------------------------------------------- determinism and stable ids


def committed_files(folder: Path) -> dict[str, bytes]:
    """The files a dataset folder's SHA256SUMS lists, with the checksum file itself."""
    names = [line.split("  ", 1)[1] for line in (folder / CHECKSUM_FILE).read_text(encoding="utf-8").splitlines()]
    return {name: (folder / name).read_bytes() for name in [*names, CHECKSUM_FILE]}


def test_rebuild_is_byte_identical_and_equal_to_the_committed_dataset(tmp_path):
    from dataclasses import replace

    from stancebench.corpus.dataset import BuildOptions

    paths = ProjectPaths.under(COMMITTED_DATASET.parents[1])  # the repository's own inputs
    options = BuildOptions(skip_sources=frozenset({"fignews-2024"}))
    first, second = (replace(paths, output=tmp_path / n / "peace-talks-ar") for n in ("one", "two"))
    build(first, options)
    build(second)  # with the FIGNEWS text (when ../shared has it): the committed files are the same
    assert committed_files(first.output) == committed_files(second.output)
    assert committed_files(first.output) == committed_files(COMMITTED_DATASET)
    assert set(folder_bytes(first.output)) == set(committed_files(first.output))


def test_rebuilding_in_place_replaces_the_dataset_with_identical_bytes(built_project):
    output = ProjectPaths.under(built_project).output
    before = folder_bytes(output)
    build(ProjectPaths.under(built_project))
    assert folder_bytes(output) == before
    assert tmp_leftovers(output) == []


def test_adding_a_second_article_keeps_ids_offsets_and_labels_of_the_first(project):
    new_ids = add_second_article(project)
    assert len(new_ids) == 2
    segments, rows, _ = build_rows(ProjectPaths.under(project))
    old_segments = {s["id"]: s for s in read_jsonl(COMMITTED_DATASET / "data" / "segments.jsonl")}
    new_segments = {s.id: s.to_dict() for s in segments}
    for sid, seg in old_segments.items():
        assert new_segments[sid] == seg
    old_rows = {r["id"]: r for r in read_jsonl(COMMITTED_DATASET / "data" / "sentences.jsonl")}
    new_rows = {r["id"]: r for r in rows}
    assert set(new_rows) == set(old_rows) | set(new_ids)
    for sid, row in old_rows.items():
        unchanged = {k: v for k, v in row.items() if k != "fold"}  # folds are re-dealt over all rows
        assert {k: v for k, v in new_rows[sid].items() if k != "fold"} == unchanged


def test_annotations_still_attach_after_an_unlabelled_article_is_added(project):
    (project / "seeds" / "001_zelensky.txt").write_text(SECOND_ARTICLE, encoding="utf-8")
    ids = [s.id for s in segment_corpus(project / "seeds") if not s.boilerplate]
    annotators = read_annotators(project / "data" / "annotations", known_ids=ids)
    for a in annotators:
        assert a.complete_ids() == set(LABELLED_IDS)
    with pytest.raises(UserError, match="the dataset needs two"):
        build(ProjectPaths.under(project))  # the new sentences are not labelled yet


# ----------------------------------------------------------------- atomicity


def test_crash_while_writing_leaves_the_previous_dataset_and_no_staging_folder(built_project, monkeypatch):
    paths = ProjectPaths.under(built_project)
    before = folder_bytes(paths.output)
    add_second_article(built_project)  # the new build would differ from the old one
    real_write = dataset_module._write_text

    def crash_on_readme(path, text):
        if path.name == "README.md":
            raise OSError("No space left on device")
        real_write(path, text)

    monkeypatch.setattr(dataset_module, "_write_text", crash_on_readme)
    with pytest.raises(OSError, match="No space left"):
        build(paths)
    assert folder_bytes(paths.output) == before
    assert tmp_leftovers(paths.output) == []


def test_crash_between_the_two_renames_puts_the_previous_dataset_back(built_project, monkeypatch):
    paths = ProjectPaths.under(built_project)
    before = folder_bytes(paths.output)
    add_second_article(built_project)
    real_rename = pathlib.Path.rename

    def failing_rename(self, target):
        if self.name.startswith(".peace-talks-ar.tmp-"):
            raise OSError("simulated crash")
        return real_rename(self, target)

    monkeypatch.setattr(pathlib.Path, "rename", failing_rename)
    with pytest.raises(OSError, match="simulated crash"):
        build(paths)
    assert folder_bytes(paths.output) == before
    assert tmp_leftovers(paths.output) == []


def test_validate_restores_a_dataset_left_aside_by_a_killed_build(built_project):
    output = ProjectPaths.under(built_project).output
    before = folder_bytes(output)
    output.rename(output.parent / ".peace-talks-ar.old-123")
    assert validate(output)["sentences"] == len(LABELLED_IDS)
    assert folder_bytes(output) == before
    assert tmp_leftovers(output) == []


def test_build_restores_a_dataset_left_aside_and_rebuilds(built_project):
    paths = ProjectPaths.under(built_project)
    before = folder_bytes(paths.output)
    paths.output.rename(paths.output.parent / ".peace-talks-ar.old-123")
    build(paths)
    assert folder_bytes(paths.output) == before
    assert tmp_leftovers(paths.output) == []


def test_cli_validate_restores_a_dataset_left_aside(built_project, run_cli):
    output = ProjectPaths.under(built_project).output
    output.rename(output.parent / ".peace-talks-ar.old-123")
    result = run_cli("data", "validate", output)
    assert result.returncode == 0, result.stderr
    assert "OK, 13 sentences" in result.stdout
    assert (output / CHECKSUM_FILE).exists() and tmp_leftovers(output) == []


# ----------------------------------------------------------------- bad input: function level


def _break_empty_seed(root: Path) -> tuple[Path, int | None]:
    path = root / "seeds" / "002_empty.txt"
    path.write_bytes(b"")
    return path, None


def _break_non_utf8_seed(root: Path) -> tuple[Path, int | None]:
    path = root / "seeds" / "002_cp1256.txt"
    path.write_bytes("قال الكرملين.\n".encode("utf-8") + "وقال ترامب.".encode("cp1256"))
    return path, 2


def _break_binary_seed(root: Path) -> tuple[Path, int | None]:
    path = root / "seeds" / "002_binary.txt"
    path.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00")
    return path, None


def _append(path: Path, record: dict) -> int:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(path.read_text(encoding="utf-8").splitlines())


def _break_unknown_id(root: Path) -> tuple[Path, int | None]:
    path = root / "data" / "annotations" / "annotator_a.jsonl"
    return path, _append(path, {"id": "000_e513dfa207b60504-deadbeef00", "stance": "none", "sentiment": "neutral"})


def _break_label_outside_schema(root: Path) -> tuple[Path, int | None]:
    path = root / "data" / "annotations" / "annotator_b.jsonl"
    return path, _append(path, {"id": LABELLED_IDS[0], "retract": ["stance"], "stance": "supportive"})


def _break_duplicate_annotation(root: Path) -> tuple[Path, int | None]:
    path = root / "data" / "annotations" / "annotator_a.jsonl"
    return path, _append(path, {"id": LABELLED_IDS[3], "sentiment": "negative"})


def _break_duplicate_adjudication(root: Path) -> tuple[Path, int | None]:
    path = root / "data" / "adjudication.jsonl"
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    return path, _append(path, {**first, "reason": "قرار ثان للجملة نفسها"})


BAD_INPUTS = {
    "empty seed": (_break_empty_seed, "empty"),
    "non-UTF-8 seed": (_break_non_utf8_seed, "not valid UTF-8"),
    "binary seed": (_break_binary_seed, "binary"),
    "unknown sentence id": (_break_unknown_id, "unknown sentence id"),
    "label outside the schema": (_break_label_outside_schema, "'supportive' is not one of"),
    "duplicate annotation": (_break_duplicate_annotation, "duplicate sentiment"),
    "duplicate adjudication": (_break_duplicate_adjudication, "duplicate adjudication"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_the_build_naming_file_and_line_and_writes_nothing(project, case):
    breaker, words = BAD_INPUTS[case]
    path, line = breaker(project)
    paths = ProjectPaths.under(project)
    with pytest.raises(UserError) as err:
        build(paths)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: " if line else f"{path}: ")
    assert words in message and "\n" not in message
    assert not paths.output.exists() and tmp_leftovers(paths.output) == []


def test_checksum_mismatch_names_the_changed_file(built_project):
    output = ProjectPaths.under(built_project).output
    sentences = output / "data" / "sentences.jsonl"
    sentences.write_text(sentences.read_text(encoding="utf-8").replace('"favor"', '"against"', 1), encoding="utf-8")
    with pytest.raises(UserError) as err:
        validate(output)
    assert str(err.value).startswith(f"{sentences}: checksum mismatch")


def test_duplicate_id_row_in_a_dataset_folder_names_file_and_line(built_project):
    output = ProjectPaths.under(built_project).output
    sentences = output / "data" / "sentences.jsonl"
    lines = sentences.read_text(encoding="utf-8").splitlines(keepends=True)
    sentences.write_text("".join(lines + [lines[4]]), encoding="utf-8")
    recompute_checksums(output)  # the checksums pass, so the duplicate is what fails
    with pytest.raises(UserError) as err:
        validate(output)
    assert str(err.value) == (
        f"{sentences}:{len(lines) + 1}: duplicate id {json.loads(lines[4])['id']!r} (first at line 5)"
    )


def test_label_outside_the_schema_in_a_dataset_folder_names_file_and_line(built_project):
    output = ProjectPaths.under(built_project).output
    sentences = output / "data" / "sentences.jsonl"
    rows = read_jsonl(sentences)
    rows[1]["sentiment"] = "happy"
    sentences.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    recompute_checksums(output)
    with pytest.raises(UserError, match=re.escape(f"{sentences}:2: sentiment 'happy' is not one of")):
        validate(output)


def test_missing_checksum_file_is_an_error(built_project):
    output = ProjectPaths.under(built_project).output
    (output / CHECKSUM_FILE).unlink()
    with pytest.raises(UserError, match=re.escape(f"{output / CHECKSUM_FILE}: checksum file missing")):
        validate(output)


def test_missing_dataset_folder_is_an_error(tmp_path):
    with pytest.raises(UserError, match="dataset folder not found"):
        validate(tmp_path / "peace-talks-ar")


def test_fewer_than_two_annotators_is_an_error(project):
    for path in (project / "data" / "annotations").glob("*.jsonl"):
        if path.name != "annotator_a.jsonl":
            path.unlink()
    with pytest.raises(UserError, match="1 annotator file"):
        build(ProjectPaths.under(project))


def test_seeds_with_only_boilerplate_are_an_error(project):
    for path in (project / "seeds").glob("*.txt"):
        path.unlink()
    (project / "seeds" / "000_promo.txt").write_text("اشترك الآن\nتابعنا على تويتر\n", encoding="utf-8")
    with pytest.raises(UserError, match="every segment is boilerplate"):
        build(ProjectPaths.under(project))


# ----------------------------------------------------------------- bad input: CLI level


@pytest.mark.parametrize("case", ["binary seed", "non-UTF-8 seed", "unknown sentence id", "duplicate adjudication"])
def test_cli_build_with_bad_input_prints_one_line_and_keeps_the_previous_dataset(built_project, run_cli, case):
    output = ProjectPaths.under(built_project).output
    before = folder_bytes(output)
    path, line = BAD_INPUTS[case][0](built_project)
    result = run_cli("data", "build", "--root", built_project)
    assert_one_line_error(result, f"{path}:{line}:" if line else f"{path}:", BAD_INPUTS[case][1])
    assert folder_bytes(output) == before
    assert tmp_leftovers(output) == []


def test_cli_build_writes_the_dataset_and_reports_agreement(project, run_cli):
    result = run_cli("data", "build", "--root", project)
    assert result.returncode == 0, result.stderr
    assert "13 labelled seed sentences, 15 segments (2 boilerplate)" in result.stdout
    built = folder_bytes(project / "data" / "peace-talks-ar")  # the seed alone (no data/sources here)
    assert built["data/sentences.jsonl"] == (COMMITTED_DATASET / "data" / "sentences.jsonl").read_bytes()
    assert built["data/segments.jsonl"] == (COMMITTED_DATASET / "data" / "segments.jsonl").read_bytes()


def test_cli_validate_with_mismatching_checksums_prints_one_line(built_project, run_cli):
    output = ProjectPaths.under(built_project).output
    card = output / "README.md"
    card.write_text(card.read_text(encoding="utf-8") + "\nedited by hand\n", encoding="utf-8")
    result = run_cli("data", "validate", output)
    assert_one_line_error(result, f"{card}: checksum mismatch")


def test_cli_validate_with_a_duplicate_row_prints_one_line_with_the_line_number(built_project, run_cli):
    output = ProjectPaths.under(built_project).output
    sentences = output / "data" / "sentences.jsonl"
    lines = sentences.read_text(encoding="utf-8").splitlines(keepends=True)
    sentences.write_text("".join([lines[0], *lines]), encoding="utf-8")
    recompute_checksums(output)
    result = run_cli("data", "validate", output)
    assert_one_line_error(result, f"{sentences}:2: duplicate id")


# ----------------------------------------------------------------- publish


def test_publish_offline_fails_fast_with_one_line_naming_the_hub(run_cli):
    start = time.perf_counter()
    result = run_cli("data", "publish", "--repo-id", "some-org/peace-talks-ar", env={"HF_HUB_OFFLINE": "1"}, timeout=30)
    assert time.perf_counter() - start < 5
    line = assert_one_line_error(result, "hub")
    assert "HF_HUB_OFFLINE" in line


def test_publish_to_an_unreachable_endpoint_fails_fast_with_one_line(run_cli):
    start = time.perf_counter()
    result = run_cli(
        "data", "publish", "--repo-id", "some-org/peace-talks-ar",
        env={"HF_HUB_OFFLINE": None, "HF_ENDPOINT": "http://127.0.0.1:9"}, timeout=30,
    )
    assert time.perf_counter() - start < 10
    assert_one_line_error(result, "hub", "127.0.0.1:9")


@pytest.mark.parametrize("repo_id", ["peace-talks-ar", "org/name/extra", "org/", "org/na me", "org/name.git", "org--x/name"])
def test_publish_with_a_bad_repo_id_is_a_clear_error(run_cli, repo_id):
    result = run_cli("data", "publish", "--repo-id", repo_id, env={"HF_HUB_OFFLINE": "1"}, timeout=30)
    assert_one_line_error(result, "--repo-id", repr(repo_id))


def test_publish_validates_the_folder_before_touching_the_network(built_project, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    output = ProjectPaths.under(built_project).output
    (output / "agreement.json").write_text("{}\n", encoding="utf-8")
    with pytest.raises(UserError, match="agreement.json: checksum mismatch"):
        publish(output, "some-org/peace-talks-ar")


def test_publish_offline_raises_user_error_mentioning_the_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="Hugging Face hub .* unreachable"):
        publish(COMMITTED_DATASET, "some-org/peace-talks-ar")
