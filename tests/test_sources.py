"""Sources beyond the seed: FIGNEWS-2024 joined from text kept upstream, the written split, and their
bad inputs (checksum, missing copy, unknown post, offsets, duplicates, schema, split)."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from stancebench.corpus import sources as src
from stancebench.corpus.dataset import (
    CHECKSUM_FILE,
    UPSTREAM_CHECKSUM_FILE,
    BuildOptions,
    ProjectPaths,
    build,
)
from stancebench.corpus.labelled import build_sets
from stancebench.errors import UserError

from conftest import COMMITTED_DATASET, REPO_ROOT, SHARED, folder_bytes

SOURCES = REPO_ROOT / "data" / "sources"
FIGNEWS_FILE = SHARED / "datasets" / "fignews-2024" / "FIGNEWS-2024-TEXT-IAA.tsv"
needs_fignews = pytest.mark.skipif(not FIGNEWS_FILE.is_file(), reason="../shared/datasets/fignews-2024 not present")


@pytest.fixture
def full_project(project: Path) -> Path:
    """The project copy of conftest (seeds and the seed's annotations) with data/sources too."""
    shutil.copytree(SOURCES, project / "data" / "sources")
    return project


def fignews_source(root: Path = REPO_ROOT) -> src.Source:
    return src.read_source(root / "data" / "sources" / "fignews-2024")


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def edit_yaml(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def one_line_error(result) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --------------------------------------------------------------------------- FIGNEWS


@needs_fignews
def test_fignews_rows_carry_the_posts_text_at_the_labelled_offsets(full_project):
    build(ProjectPaths.under(full_project))
    rows = read_rows(full_project / "data" / "peace-talks-ar" / "data" / "fignews-2024.jsonl")
    source = fignews_source(full_project)
    docs = src.read_documents(source, FIGNEWS_FILE)
    assert len(docs) == 297
    posts = {r["article_id"] for r in rows}
    assert len(posts) >= 250 and len(rows) >= 250
    for row in rows:
        assert docs[row["article_id"]].text[row["start"]:row["end"]] == row["text"]
        assert row["source"] == "fignews-2024" and row["conflict"] == "israel-gaza"
        assert len(row["stance_votes"]) >= 2 and all(row["stance_votes"]) and all(row["sentiment_votes"])
    upstream = (full_project / "data" / "peace-talks-ar" / UPSTREAM_CHECKSUM_FILE).read_text(encoding="utf-8")
    assert upstream.endswith("  data/fignews-2024.jsonl\n")
    assert "fignews" not in (full_project / "data" / "peace-talks-ar" / CHECKSUM_FILE).read_text(encoding="utf-8")


@needs_fignews
def test_git_tracks_no_fignews_text():
    """No FIGNEWS sentence (nor furniture line) of 20 characters or more is in any file git tracks."""
    source = fignews_source()
    docs = src.read_documents(source, FIGNEWS_FILE)
    pieces = {" ".join(s.text.split()) for s in src.segment_documents(docs)}
    pieces = [p for p in pieces if len(p) >= 20]
    assert len(pieces) > 400
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    tracked = []
    for name in filter(None, listed.decode("utf-8").split("\0")):
        path = REPO_ROOT / name
        if path.is_file():
            tracked.append(" ".join(path.read_bytes().decode("utf-8", errors="ignore").split()))
    corpus = "\n".join(tracked)
    leaked = [p for p in pieces if p in corpus]
    assert not leaked, f"{len(leaked)} FIGNEWS sentence(s) tracked, e.g. {leaked[0][:60]!r}"


def test_rows_joined_from_upstream_text_are_ignored_by_git():
    for name in ("data/peace-talks-ar/data/fignews-2024.jsonl", f"data/peace-talks-ar/{UPSTREAM_CHECKSUM_FILE}"):
        result = subprocess.run(["git", "check-ignore", "-q", name], cwd=REPO_ROOT)
        assert result.returncode == 0, f"{name} is not ignored by git"


@needs_fignews
def test_skipping_a_source_keeps_the_committed_files_byte_identical(full_project, tmp_path):
    paths = ProjectPaths.under(full_project)
    build(paths)
    full = folder_bytes(paths.output)
    build(paths, BuildOptions(skip_sources=frozenset({"fignews-2024"})))
    skipped = folder_bytes(paths.output)
    assert "data/fignews-2024.jsonl" in full and "data/fignews-2024.jsonl" not in skipped
    assert UPSTREAM_CHECKSUM_FILE not in skipped
    assert {k: v for k, v in full.items() if "fignews" not in k and k != UPSTREAM_CHECKSUM_FILE} == skipped


@needs_fignews
def test_a_copy_whose_checksum_differs_is_one_line_naming_file_checksum_and_url(full_project, tmp_path, run_cli):
    bad = tmp_path / "copy" / "FIGNEWS-2024-TEXT-IAA.tsv"
    bad.parent.mkdir()
    data = bytearray(FIGNEWS_FILE.read_bytes())
    data[-2] ^= 0x01
    bad.write_bytes(bytes(data))
    result = run_cli("data", "build", "--root", full_project, "--source", f"fignews-2024={bad.parent}")
    line = one_line_error(result)
    source = fignews_source()
    assert str(bad) in line and source.sha256 in line and source.url in line
    assert not (full_project / "data" / "peace-talks-ar").exists()


def test_a_missing_copy_offline_is_one_line_naming_file_checksum_and_where_to_get_it(full_project, tmp_path, run_cli):
    missing = tmp_path / "nowhere" / "FIGNEWS-2024-TEXT-IAA.tsv"
    edit_yaml(full_project / "data" / "sources" / "fignews-2024" / "source.yaml",
              "local: ../shared/datasets/fignews-2024/FIGNEWS-2024-TEXT-IAA.tsv", f"local: {missing}")
    result = run_cli("data", "build", "--root", full_project, "--offline",
                     env={"STANCEBENCH_CACHE": str(tmp_path / "cache")})
    line = one_line_error(result)
    source = fignews_source()
    assert str(missing) in line and source.sha256 in line and source.url in line and "--skip-source" in line
    assert not (full_project / "data" / "peace-talks-ar").exists()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture
def file_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields its base URL."""
    www = tmp_path / "www"
    www.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", www
    server.shutdown()
    server.server_close()


@needs_fignews
def test_without_a_local_copy_the_pinned_url_is_downloaded_and_checked(full_project, tmp_path, file_server,
                                                                        monkeypatch):
    base, www = file_server
    yaml_path = full_project / "data" / "sources" / "fignews-2024" / "source.yaml"
    edit_yaml(yaml_path, "local: ../shared/datasets/fignews-2024/FIGNEWS-2024-TEXT-IAA.tsv",
              f"local: {tmp_path / 'nowhere.tsv'}")
    edit_yaml(yaml_path, fignews_source().url, f"{base}/FIGNEWS-2024-TEXT-IAA.tsv")
    monkeypatch.setenv("STANCEBENCH_CACHE", str(tmp_path / "cache"))
    cached = tmp_path / "cache" / "sources" / "fignews-2024" / "FIGNEWS-2024-TEXT-IAA.tsv"
    # A server handing out a changed file: refused, and nothing is kept in the cache.
    (www / "FIGNEWS-2024-TEXT-IAA.tsv").write_bytes(FIGNEWS_FILE.read_bytes() + b"\n")
    with pytest.raises(UserError, match="differs from the expected"):
        build(ProjectPaths.under(full_project))
    assert not cached.exists() and not (full_project / "data" / "peace-talks-ar").exists()
    # The pinned file: downloaded once, verified, and the rows are built.
    shutil.copy2(FIGNEWS_FILE, www / "FIGNEWS-2024-TEXT-IAA.tsv")
    build(ProjectPaths.under(full_project))
    assert cached.read_bytes() == FIGNEWS_FILE.read_bytes()
    assert (full_project / "data" / "peace-talks-ar" / "data" / "fignews-2024.jsonl").is_file()


def test_an_unreachable_url_fails_fast_with_the_way_out(full_project, tmp_path, monkeypatch):
    yaml_path = full_project / "data" / "sources" / "fignews-2024" / "source.yaml"
    edit_yaml(yaml_path, "local: ../shared/datasets/fignews-2024/FIGNEWS-2024-TEXT-IAA.tsv",
              f"local: {tmp_path / 'nowhere.tsv'}")
    edit_yaml(yaml_path, fignews_source().url, "http://127.0.0.1:9/FIGNEWS-2024-TEXT-IAA.tsv")
    monkeypatch.setenv("STANCEBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UserError, match=r"downloading http://127\.0\.0\.1:9/.*--skip-source fignews-2024"):
        build(ProjectPaths.under(full_project))


def _first_label(root: Path) -> tuple[Path, dict]:
    path = root / "data" / "sources" / "fignews-2024" / "annotations" / "pass_a.jsonl"
    return path, json.loads(path.read_text(encoding="utf-8").splitlines()[0])


def _append(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")


@needs_fignews
@pytest.mark.parametrize("change, message", [
    (lambda r: {**r, "id": "fignews-B99-1-0000000000", "doc": {"Batch": "B99", "ID": "1"}}, "unknown document"),
    (lambda r: {**r, "end": 10 ** 6}, "lie outside document"),
    (lambda r: {**r, "start": r["start"] + 1}, "is not a labelled sentence of it"),
    (lambda r: {**r, "stance": "maybe"}, "stance 'maybe' is not one of favor, against, none"),
])
def test_bad_fignews_label_rows_are_one_line_errors_and_nothing_is_written(full_project, change, message):
    paths = ProjectPaths.under(full_project)
    path, first = _first_label(full_project)
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([json.dumps(change(first), ensure_ascii=False), *lines[1:]]) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=message) as info:
        build(paths)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert not paths.output.exists() and not list(paths.output.parent.glob(".peace-talks-ar.*"))


# --------------------------------------------------------------------------- written sentences


def _written(root: Path) -> Path:
    return root / "data" / "sources" / "synthetic" / "written.jsonl"


def _rewrite(path: Path, extra: list[dict] | None = None, replace_first: dict | None = None) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    if replace_first is not None:
        lines[0] = json.dumps(replace_first, ensure_ascii=False)
    lines += [json.dumps(r, ensure_ascii=False) for r in extra or []]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _first_written(root: Path) -> dict:
    return json.loads(_written(root).read_text(encoding="utf-8").splitlines()[0])


def _near_copy(row: dict) -> dict:
    text = row["text"] + " وفق مصادر مطلعة"
    return {**row, "text": text, "id": src.written_id(text)}


@pytest.mark.parametrize("mutate, message", [
    (lambda root, r: _rewrite(_written(root), extra=[r]), "duplicates the sentence at line 1"),
    (lambda root, r: _rewrite(_written(root), extra=[{**r, "text": r["text"].replace(" ", "  ", 1)}]),
     "duplicates the sentence at line 1"),
    (lambda root, r: _rewrite(_written(root), extra=[_near_copy(r)]), "near-duplicate of line 1"),
    (lambda root, r: _rewrite(_written(root), replace_first={**r, "intended_stance": "neutral"}),
     "intended_stance 'neutral' is not one of favor, against, none"),
    (lambda root, r: _rewrite(_written(root), replace_first={**r, "split": "test"}),
     "cannot be placed in split 'test'"),
    (lambda root, r: edit_yaml(root / "data" / "sources" / "synthetic" / "source.yaml", "split: train", "split: test"),
     "a written source is training data and cannot be a test split"),
])
def test_bad_written_rows_are_one_line_errors_and_nothing_is_written(full_project, mutate, message):
    paths = ProjectPaths.under(full_project)
    options = BuildOptions(skip_sources=frozenset({"fignews-2024"}))
    mutate(full_project, _first_written(full_project))
    with pytest.raises(UserError, match=message) as info:
        build(paths, options)
    assert "\n" not in str(info.value)
    # Nothing written: no dataset folder, no staging folder (a previous dataset is kept: test_dataset).
    assert not paths.output.exists() and not list(paths.output.parent.glob(".peace-talks-ar.*"))


def test_near_duplicate_pairs_find_reworded_copies_and_leave_distinct_sentences():
    texts = [
        "قال المتحدث باسم الكرملين إن موسكو مستعدة لجولة جديدة من المحادثات في إسطنبول الأسبوع المقبل.",
        "قال المتحدث باسم الكرملين إن موسكو مستعدة لجولة جديدة من المحادثات في إسطنبول الشهر المقبل.",
        "أعلنت وزارة الصحة في غزة ارتفاع عدد الضحايا إثر غارات استهدفت مخيم النصيرات فجر اليوم.",
    ]
    pairs = src.near_duplicate_pairs(texts)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]
    assert src.written_id(texts[0]) != src.written_id(texts[1])  # not the same text, only near it
    d = src.diversity(texts)
    assert 0 < d["distinct_1"] <= 1 and d["nn_jaccard_max"] == pytest.approx(pairs[0][2], abs=1e-4)


# --------------------------------------------------------------------------- the committed dataset


def test_synthetic_config_has_every_written_sentence_with_two_independent_votes():
    import datasets

    written = datasets.load_dataset(str(COMMITTED_DATASET), "synthetic")["train"]
    assert len(written) >= 1500
    assert len(written) == len(read_rows(_written(REPO_ROOT)))
    for row in written:
        assert len(row["stance_votes"]) >= 2 and all(row["stance_votes"])
        assert len(row["sentiment_votes"]) >= 2 and all(row["sentiment_votes"])
        assert row["intended_stance"] in ("favor", "against", "none")
        assert row["source"] == "synthetic" and row["start"] is None


def test_default_config_trains_on_written_sentences_and_tests_on_the_real_seed():
    import datasets

    ds = datasets.load_dataset(str(COMMITTED_DATASET))
    assert set(ds) == {"train", "test"}
    assert set(ds["train"]["source"]) == {"synthetic"} and set(ds["test"]["source"]) == {"seed"}
    assert ds["test"]["intended_stance"] == [None] * len(ds["test"])


def test_committed_agreement_and_card_figures_equal_what_the_code_computes():
    from stancebench.corpus.dataset import agreement_summary

    _, sets = build_sets(ProjectPaths.under(REPO_ROOT), BuildOptions(skip_sources=frozenset({"fignews-2024"})))
    computed = agreement_summary(sets)
    committed = json.loads((COMMITTED_DATASET / "agreement.json").read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(computed))
    card = (COMMITTED_DATASET / "README.md").read_text(encoding="utf-8")
    for labelled in sets:
        for dim in ("stance", "sentiment"):
            a = computed[labelled.name][dim]
            assert f"| `{labelled.name}` | {dim} | {len(a['annotators'])} | {a['items']} | " \
                   f"{a['percent_agreement']:.3f} | {a['cohen_kappa']:.3f} | {a['krippendorff_alpha']:.3f} |" in card
    written = next(s for s in sets if s.name == "synthetic")
    assert f"{written.diversity['distinct_2']:.3f}" in card
    assert f"{written.intent['stance']['gold_equals_intended']:.3f}" in card


def test_a_folder_rebuilt_in_place_loads_its_new_rows_not_a_cached_copy(full_project, tmp_path):
    """The datasets cache keys a local folder by file names: a rebuilt folder must still load fresh."""
    import datasets

    from stancebench.data.loader import DataSpec, load_data

    paths = ProjectPaths.under(full_project)
    options = BuildOptions(skip_sources=frozenset({"fignews-2024"}))
    build(paths, options)
    cache = str(tmp_path / "hf-cache")
    before = len(datasets.load_dataset(str(paths.output), "synthetic", cache_dir=cache)["train"])
    spec = DataSpec(name="peace-talks-ar", source=str(paths.output))
    assert len(load_data(spec)["train"]) == before
    # Drop the last written sentence (and its labels) and rebuild in place.
    written = _written(full_project)
    lines = written.read_text(encoding="utf-8").splitlines()
    gone = json.loads(lines[-1])["id"]
    written.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    for name in ("annotations/pass_a.jsonl", "annotations/pass_b.jsonl", "adjudication.jsonl"):
        path = full_project / "data" / "sources" / "synthetic" / name
        kept = [line for line in path.read_text(encoding="utf-8").splitlines() if gone not in line]
        path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    build(paths, options)
    assert len(datasets.load_dataset(str(paths.output), "synthetic", cache_dir=cache)["train"]) == before - 1
    assert len(load_data(spec)["train"]) == before - 1
