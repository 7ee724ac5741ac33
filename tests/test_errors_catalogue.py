"""The bad-input catalogue, docs/errors.md, run row by row.

Each row of the catalogue names a bad input, the command that meets it, the exit status and the line
the user sees.  Here every row id has one scenario: a function that builds the bad input under the
test's tmp_path and returns the command line.  The test runs ``python -m stancebench ...`` in a
subprocess and checks the exit status, that there is no traceback, and that stderr is the documented
message (one line for exit status 2; the first line of Hydra's own messages, exit status 1), with
each ``<placeholder>`` of the doc's legend matching any text.  The command column is checked too,
so a changed message or command breaks the doc and this test together.

Rows whose scenario reads training data, starts an MLflow run or reads a tracking store take 3-15 s
each and are marked slow; the others take about a second, so ``-m "not slow"`` still runs most rows.
The predict rows that need a logged model share one small TF-IDF model, trained once per module into
the module's store (about 10 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ADJUDICATION, ANNOTATIONS, COMMITTED_DATASET, SEEDS

REPO = Path(__file__).resolve().parents[1]
CATALOGUE = REPO / "docs" / "errors.md"
ROW_COLUMNS = ["id", "bad input", "command", "exit", "what you see"]
LEGEND_COLUMNS = ["placeholder", "stands for"]
DATA_FILES = ("data/sentences.jsonl", "data/segments.jsonl", "agreement.json", "README.md")
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there
# The first labelled sentence of the committed dataset: the one the annotation scenarios label.
FIRST_ID = json.loads((COMMITTED_DATASET / "data" / "sentences.jsonl").read_text(encoding="utf-8")
                      .splitlines()[0])["id"]


# ----------------------------------------------------------------- reading the catalogue


@dataclass(frozen=True)
class Row:
    id: str
    area: str
    bad_input: str
    command: str
    exit: int
    message: str


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table line; ``\\|`` is a literal bar."""
    inner = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def _code(cell: str) -> str:
    """The text of a cell that is one code span: `x` or `` x `` (for text holding backticks)."""
    match = re.fullmatch(r"(`+) ?(.*?) ?\1", cell)
    assert match, f"expected a code span, got {cell!r}"
    return match.group(2)


def parse_catalogue(text: str) -> tuple[set[str], list[Row]]:
    """(placeholder names of the legend, rows of every area table)."""
    placeholders: set[str] = set()
    rows: list[Row] = []
    area, header = "", None
    for line in text.splitlines():
        if line.startswith("## "):
            area, header = line[3:].strip(), None
            continue
        if not line.lstrip().startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            header = [c.lower() for c in cells]
            assert header in (ROW_COLUMNS, LEGEND_COLUMNS), f"unknown table header {header} under {area!r}"
            continue
        if all(re.fullmatch(r":?-+:?", c) for c in cells):
            continue
        assert len(cells) == len(header), f"{len(cells)} cells in {line!r}"
        if header == LEGEND_COLUMNS:
            name = _code(cells[0])
            assert re.fullmatch(r"<[a-z][a-z0-9-]*>", name), name
            placeholders.add(name[1:-1])
        else:
            rows.append(Row(id=_code(cells[0]), area=area, bad_input=cells[1], command=_code(cells[2]),
                            exit=int(cells[3]), message=_code(cells[4])))
    return placeholders, rows


def pattern(template: str, placeholders: set[str]) -> re.Pattern:
    """``template`` as a regex: each legend ``<name>`` matches any text, the rest is literal."""
    parts = re.split(r"<([a-z][a-z0-9-]*)>", template)
    regex = "".join(re.escape(p) if i % 2 == 0 else ("(.+?)" if p in placeholders else re.escape(f"<{p}>"))
                    for i, p in enumerate(parts))
    return re.compile(regex)


PLACEHOLDERS, ROWS = parse_catalogue(CATALOGUE.read_text(encoding="utf-8"))
ROWS_BY_ID = {row.id: row for row in ROWS}


# ----------------------------------------------------------------- scenarios


@dataclass
class Case:
    """One command line: ``args`` and the ``env`` names in ``shown_env`` are what the catalogue shows;
    ``hidden`` arguments only keep the command away from the repository's own files."""

    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    shown_env: tuple[str, ...] = ()
    hidden: list[str] = field(default_factory=list)

    def shown(self) -> str:
        prefix = "".join(f"{k}={shlex.quote(self.env[k])} " for k in self.shown_env)
        return f"{prefix}stancebench {shlex.join(self.args)}"


@dataclass(frozen=True)
class Scenario:
    make: Callable[["Scene"], Case]
    slow: bool = False
    store: bool = False  # runs against the module's prepared MLflow store
    model: bool = False  # ... and needs the TF-IDF model trained into it (Store.run_id)


SCENARIOS: dict[str, Scenario] = {}


def scenario(row_id: str, slow: bool = False, store: bool = False, model: bool = False):
    def register(make: Callable[["Scene"], Case]) -> Callable[["Scene"], Case]:
        assert row_id not in SCENARIOS, row_id
        SCENARIOS[row_id] = Scenario(make, slow=slow or store or model, store=store or model, model=model)
        return make

    return register


class Scene:
    """Building blocks of the bad inputs, all under the test's tmp_path."""

    def __init__(self, tmp_path: Path, store: "Store | None"):
        self.tmp = tmp_path
        self.store = store  # the module's MLflow store, for scenarios declared with store=True

    def project(self, annotations: bool = True, sources: bool = False) -> Path:
        """A copy of the seeds, annotator files and adjudication file (and with ``sources``, data/sources)."""
        root = self.tmp / "project"
        shutil.copytree(SEEDS, root / "seeds")
        if annotations:
            shutil.copytree(ANNOTATIONS, root / "data" / "annotations")
            shutil.copy2(ADJUDICATION, root / "data" / "adjudication.jsonl")
        if sources:
            shutil.copytree(REPO / "data" / "sources", root / "data" / "sources")
        return root

    def dataset(self) -> Path:
        """A copy of the committed dataset folder."""
        folder = self.tmp / "peace-talks-ar"
        shutil.copytree(COMMITTED_DATASET, folder)
        return folder

    def folder(self, name: str = "files") -> Path:
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def csv(self, name: str, text: str | bytes) -> Path:
        path = self.folder() / name
        if isinstance(text, str):
            path.write_text(text, encoding="utf-8")
        else:
            path.write_bytes(text)
        return path


@dataclass(frozen=True)
class Store:
    uri: str
    run_id: str | None = None  # the run of the TF-IDF model (model_store only)


def jsonl(*records: dict) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def recompute_checksums(folder: Path) -> None:
    sums = "".join(f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in DATA_FILES)
    (folder / "SHA256SUMS").write_text(sums, encoding="utf-8")


def edit_first_row(folder: Path, edit: Callable[[dict], None]) -> None:
    """Change the first row of the dataset's sentences and recompute the checksums (so they pass)."""
    sentences = folder / "data" / "sentences.jsonl"
    lines = sentences.read_text(encoding="utf-8").splitlines(keepends=True)
    row = json.loads(lines[0])
    edit(row)
    sentences.write_text(json.dumps(row, ensure_ascii=False) + "\n" + "".join(lines[1:]), encoding="utf-8")
    recompute_checksums(folder)


def build(project: Path) -> Case:
    return Case(["data", "build", "--root", str(project)])


def validate(folder: Path) -> Case:
    return Case(["data", "validate", str(folder)])


def train(*overrides: str, **kwargs) -> Case:
    return Case(["train", *overrides], **kwargs)


TEXTS = ["قال الكرملين إن بوتين مستعد للقاء ترامب", "رفضت كييف أي تنازل عن أراضيها", "تستمر المعارك في الشرق",
         "رحب الاتحاد الأوروبي بالمحادثات", "قال المتحدث إن الموعد لم يحدد", "انتقد النائب خطة السلام"]


TWEETS_HEADER = "id,text,stance\n"


def stance_csv(scene: Scene, name: str, labels: list[str], column: str = "stance") -> Path:
    rows = "".join(f"s{i},{TEXTS[i % len(TEXTS)]},{label}\n" for i, label in enumerate(labels))
    return scene.csv(name, f"id,text,{column}\n{rows}")


# --- seed files


@scenario("seed-not-utf8")
def _(s: Scene) -> Case:
    project = s.project()
    (project / "seeds" / "002_cp1256.txt").write_bytes("قال الكرملين.\n".encode() + "وقال ترامب.".encode("cp1256"))
    return build(project)


@scenario("seed-bom")
def _(s: Scene) -> Case:
    project = s.project()
    (project / "seeds" / "002_bom.txt").write_text("\ufeffقال الكرملين.\n", encoding="utf-8")
    return build(project)


@scenario("seed-binary")
def _(s: Scene) -> Case:
    project = s.project()
    (project / "seeds" / "002_archive.txt").write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00")
    return build(project)


@scenario("seed-empty")
def _(s: Scene) -> Case:
    project = s.project()
    (project / "seeds" / "002_empty.txt").write_bytes(b"\n")
    return build(project)


@scenario("seeds-folder-missing")
def _(s: Scene) -> Case:
    return build(s.folder())


@scenario("seeds-no-articles")
def _(s: Scene) -> Case:
    project = s.folder("project")
    (project / "seeds").mkdir()
    (project / "seeds" / "article.md").write_text("قال الكرملين.\n", encoding="utf-8")
    return build(project)


@scenario("seeds-only-boilerplate")
def _(s: Scene) -> Case:
    project = s.project()
    for path in (project / "seeds").glob("*.txt"):
        path.unlink()
    (project / "seeds" / "000_promo.txt").write_text("اشترك الآن\nتابعنا على تويتر\n", encoding="utf-8")
    return build(project)


@scenario("segments-seeds-missing")
def _(s: Scene) -> Case:
    return Case(["data", "segments", "--seeds", str(s.folder() / "seeds")])


# --- annotations and adjudication


def third_annotator(s: Scene, content: str | bytes) -> Case:
    """The project with a third annotator file, ``annotator_c.jsonl``, holding ``content``."""
    project = s.project()
    path = project / "data" / "annotations" / "annotator_c.jsonl"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return build(project)


def adjudication(s: Scene, *records: dict, keep: bool = True) -> Case:
    """The project with ``records`` at the top of its adjudication file (the original lines after them)."""
    project = s.project()
    path = project / "data" / "adjudication.jsonl"
    path.write_text(jsonl(*records) + (ADJUDICATION.read_text(encoding="utf-8") if keep else ""), encoding="utf-8")
    return build(project)


@scenario("annotation-bad-json")
def _(s: Scene) -> Case:
    return third_annotator(s, '{"id": \n')


@scenario("annotation-not-an-object")
def _(s: Scene) -> Case:
    return third_annotator(s, '["favor", "positive"]\n')


@scenario("annotation-without-id")
def _(s: Scene) -> Case:
    return third_annotator(s, jsonl({"stance": "favor"}))


@scenario("annotation-not-utf8")
def _(s: Scene) -> Case:
    cp1256 = '{"note": "ملاحظة"}\n'.encode("cp1256")
    return third_annotator(s, jsonl({"id": FIRST_ID, "stance": "favor"}).encode() + cp1256)


@scenario("annotation-unknown-id")
def _(s: Scene) -> Case:
    return third_annotator(s, jsonl({"id": "000_e513dfa207b60504-0000000000", "stance": "favor"}))


@scenario("annotation-label-outside-schema")
def _(s: Scene) -> Case:
    return third_annotator(s, jsonl({"id": FIRST_ID, "stance": "supportive"}))


@scenario("annotation-duplicate")
def _(s: Scene) -> Case:
    return third_annotator(s, jsonl({"id": FIRST_ID, "stance": "favor"}, {"id": FIRST_ID, "stance": "against"}))


@scenario("annotation-retract-not-a-list")
def _(s: Scene) -> Case:
    return third_annotator(s, jsonl({"id": FIRST_ID, "retract": "stance"}))


@scenario("annotation-retract-unknown-dimension")
def _(s: Scene) -> Case:
    return third_annotator(s, jsonl({"id": FIRST_ID, "retract": ["mood"]}))


@scenario("annotators-fewer-than-two")
def _(s: Scene) -> Case:
    project = s.project()
    for path in (project / "data" / "annotations").glob("*.jsonl"):
        if path.name != "annotator_a.jsonl":
            path.unlink()
    return build(project)


@scenario("annotation-missing")
def _(s: Scene) -> Case:
    project = s.project()
    for path in (project / "data" / "annotations").glob("*.jsonl"):
        if path.name != "annotator_a.jsonl":  # every pass but one drops the first sentence
            kept = [line for line in path.read_text(encoding="utf-8").splitlines(keepends=True) if FIRST_ID not in line]
            path.write_text("".join(kept), encoding="utf-8")
    return build(project)


@scenario("adjudication-missing")
def _(s: Scene) -> Case:
    return adjudication(s, keep=False)


@scenario("adjudication-unknown-id")
def _(s: Scene) -> Case:
    return adjudication(s, {"id": "000_e513dfa207b60504-0000000000", "dimension": "stance", "label": "none",
                            "reason": "سبب"})


@scenario("adjudication-bad-dimension")
def _(s: Scene) -> Case:
    return adjudication(s, {"id": FIRST_ID, "dimension": "tone", "label": "calm", "reason": "سبب"})


@scenario("adjudication-label-outside-schema")
def _(s: Scene) -> Case:
    return adjudication(s, {"id": FIRST_ID, "dimension": "stance", "label": "supportive", "reason": "سبب"})


@scenario("adjudication-without-reason")
def _(s: Scene) -> Case:
    return adjudication(s, {"id": FIRST_ID, "dimension": "stance", "label": "favor"})


@scenario("adjudication-duplicate")
def _(s: Scene) -> Case:
    decision = {"id": FIRST_ID, "dimension": "stance", "label": "favor", "reason": "سبب"}
    return adjudication(s, decision, {**decision, "reason": "سبب آخر"})


# --- sources: text kept upstream, written sentences

FIGNEWS_COPY = REPO.parent / "shared" / "datasets" / "fignews-2024" / "FIGNEWS-2024-TEXT-IAA.tsv"


def source_file(project: Path, name: str, file: str) -> Path:
    return project / "data" / "sources" / name / file


def edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


def first_line_changed(path: Path, change: Callable[[dict], dict], append: bool = False) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    changed = json.dumps(change(json.loads(lines[0])), ensure_ascii=False)
    lines = [*lines, changed] if append else [changed, *lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@scenario("source-copy-checksum-mismatch")
def _(s: Scene) -> Case:
    project = s.project(sources=True)
    copy = s.folder() / FIGNEWS_COPY.name
    copy.write_bytes(FIGNEWS_COPY.read_bytes()[:-1])
    return Case(["data", "build", "--root", str(project), "--source", f"fignews-2024={s.folder()}"])


@scenario("source-copy-missing")
def _(s: Scene) -> Case:
    project = s.project(sources=True)
    edit_text(source_file(project, "fignews-2024", "source.yaml"), "local: ../shared/datasets/fignews-2024/",
              f"local: {s.folder()}/")
    return Case(["data", "build", "--root", str(project), "--offline"], env={"STANCEBENCH_CACHE": str(s.tmp / "c")})


@scenario("source-label-unknown-post")
def _(s: Scene) -> Case:
    project = s.project(sources=True)
    first_line_changed(source_file(project, "fignews-2024", "annotations/pass_a.jsonl"),
                       lambda r: {**r, "doc": {"Batch": "B99", "ID": "1"}})
    return build(project)


@scenario("source-label-offsets-outside-the-post")
def _(s: Scene) -> Case:
    project = s.project(sources=True)
    first_line_changed(source_file(project, "fignews-2024", "annotations/pass_a.jsonl"),
                       lambda r: {**r, "start": 5000, "end": 5077})
    return build(project)


@scenario("written-duplicate")
def _(s: Scene) -> Case:
    project = s.project(sources=True)
    first_line_changed(source_file(project, "synthetic", "written.jsonl"), lambda r: r, append=True)
    return Case(["data", "build", "--root", str(project), "--skip-source", "fignews-2024"])


@scenario("written-near-duplicate")
def _(s: Scene) -> Case:
    from stancebench.corpus.sources import written_id

    project = s.project(sources=True)

    def reworded(row: dict) -> dict:
        text = row["text"] + " وفق مصادر مطلعة"
        return {**row, "text": text, "id": written_id(text)}

    first_line_changed(source_file(project, "synthetic", "written.jsonl"), reworded, append=True)
    return Case(["data", "build", "--root", str(project), "--skip-source", "fignews-2024"])


@scenario("written-label-outside-schema")
def _(s: Scene) -> Case:
    project = s.project(sources=True)
    first_line_changed(source_file(project, "synthetic", "written.jsonl"), lambda r: {**r, "intended_stance": "pro"})
    return Case(["data", "build", "--root", str(project), "--skip-source", "fignews-2024"])


@scenario("written-row-in-a-test-split")
def _(s: Scene) -> Case:
    project = s.project(sources=True)
    first_line_changed(source_file(project, "synthetic", "written.jsonl"), lambda r: {**r, "split": "test"})
    return Case(["data", "build", "--root", str(project), "--skip-source", "fignews-2024"])


@scenario("written-source-as-test-split")
def _(s: Scene) -> Case:
    project = s.project(sources=True)
    edit_text(source_file(project, "synthetic", "source.yaml"), "split: train", "split: test")
    return Case(["data", "build", "--root", str(project), "--skip-source", "fignews-2024"])


@scenario("build-source-not-name-path")
def _(s: Scene) -> Case:
    return Case(["data", "build", "--root", str(s.project(sources=True)), "--source", "fignews-2024"])


@scenario("build-unknown-source")
def _(s: Scene) -> Case:
    return Case(["data", "build", "--root", str(s.project(sources=True)), "--skip-source", "fignews"])


# --- dataset folders: validate and publish


@scenario("dataset-folder-missing")
def _(s: Scene) -> Case:
    return validate(s.tmp / "peace-talks-ar")


@scenario("dataset-checksum-file-missing")
def _(s: Scene) -> Case:
    folder = s.dataset()
    (folder / "SHA256SUMS").unlink()
    return validate(folder)


@scenario("dataset-checksum-file-not-utf8")
def _(s: Scene) -> Case:
    folder = s.dataset()
    (folder / "SHA256SUMS").write_bytes(b"\xff\xfe" + "1234  README.md\n".encode("utf-16-le"))
    return validate(folder)


@scenario("dataset-checksum-line-malformed")
def _(s: Scene) -> Case:
    folder = s.dataset()
    sums = folder / "SHA256SUMS"
    sums.write_text("README.md changed by hand\n" + sums.read_text(encoding="utf-8"), encoding="utf-8")
    return validate(folder)


@scenario("dataset-checksum-not-listed")
def _(s: Scene) -> Case:
    folder = s.dataset()
    sums = folder / "SHA256SUMS"
    lines = sums.read_text(encoding="utf-8").splitlines(keepends=True)
    sums.write_text("".join(line for line in lines if not line.rstrip().endswith("  README.md")), encoding="utf-8")
    return validate(folder)


@scenario("dataset-file-missing")
def _(s: Scene) -> Case:
    folder = s.dataset()
    (folder / "agreement.json").unlink()
    return validate(folder)


@scenario("dataset-checksum-mismatch")
def _(s: Scene) -> Case:
    folder = s.dataset()
    with open(folder / "README.md", "a", encoding="utf-8") as f:
        f.write("\nedited by hand\n")
    return validate(folder)


@scenario("dataset-duplicate-id")
def _(s: Scene) -> Case:
    folder = s.dataset()
    sentences = folder / "data" / "sentences.jsonl"
    lines = sentences.read_text(encoding="utf-8").splitlines(keepends=True)
    sentences.write_text("".join([lines[0], *lines]), encoding="utf-8")
    recompute_checksums(folder)
    return validate(folder)


@scenario("dataset-label-outside-schema")
def _(s: Scene) -> Case:
    folder = s.dataset()
    edit_first_row(folder, lambda row: row.update(sentiment="happy"))
    return validate(folder)


@scenario("dataset-missing-column")
def _(s: Scene) -> Case:
    folder = s.dataset()
    edit_first_row(folder, lambda row: row.pop("text"))
    return validate(folder)


@scenario("dataset-empty-text")
def _(s: Scene) -> Case:
    folder = s.dataset()
    edit_first_row(folder, lambda row: row.update(text="  "))
    return validate(folder)


@scenario("publish-repo-id-not-org-name")
def _(s: Scene) -> Case:
    return Case(["data", "publish", "--repo-id", "peace-talks-ar"], hidden=["--folder", str(s.tmp / "none")])


@scenario("publish-repo-id-invalid")
def _(s: Scene) -> Case:
    return Case(["data", "publish", "--repo-id", "my org/peace-talks-ar"], hidden=["--folder", str(s.tmp / "none")])


@scenario("publish-hub-unreachable")
def _(s: Scene) -> Case:
    return Case(["data", "publish", "--repo-id", "my-org/peace-talks-ar", "--folder", str(s.dataset())],
                env={"HF_ENDPOINT": UNREACHABLE}, shown_env=("HF_ENDPOINT",))


# --- labelling


def label(s: Scene, annotator: str, annotations: Path | None = None) -> Case:
    project = s.project(annotations=False)
    annotations = annotations or project / "data" / "annotations"
    return Case(["label", "--annotator", annotator, "--seeds", str(project / "seeds"), "--annotations",
                 str(annotations)])


@scenario("label-bad-annotator-name")
def _(s: Scene) -> Case:
    return Case(["label", "--annotator", "../annotator_a"],
                hidden=["--seeds", str(s.tmp / "seeds"), "--annotations", str(s.tmp / "annotations")])


@scenario("label-corrupt-annotation-file")
def _(s: Scene) -> Case:
    case = label(s, "tester")
    folder = Path(case.args[-1])
    folder.mkdir(parents=True)
    (folder / "tester.jsonl").write_text(jsonl({"id": FIRST_ID, "stance": "favor"}) + '{"id": "\n', encoding="utf-8")
    return case


@scenario("label-annotations-not-a-folder")
def _(s: Scene) -> Case:
    case = label(s, "tester", s.tmp / "project" / "annotations.jsonl")
    Path(case.args[-1]).write_text("", encoding="utf-8")
    return case


# --- configs and training data (train): all fail before a run starts, except the last three.
# Rows that read training data take 3-5 s (pandas, datasets); they are marked slow.


@scenario("train-unknown-model")
def _(s: Scene) -> Case:
    return train("model=bert")


@scenario("train-unknown-data")
def _(s: Scene) -> Case:
    return train("data=mawqif")


@scenario("train-unknown-key")
def _(s: Scene) -> Case:
    return train("seeed=1")


@scenario("train-source-not-set")
def _(s: Scene) -> Case:
    return train("data=csv")


@scenario("train-source-not-found")
def _(s: Scene) -> Case:
    return train("data=csv", "data.source=data/mawqif.csv")  # ORG/NAME-like, but a file name: not a hub id


@scenario("train-source-folder-without-data", slow=True)
def _(s: Scene) -> Case:
    return train("data=csv", f"data.source={s.folder('downloads')}")


@scenario("train-source-hub-unreachable", slow=True)
def _(s: Scene) -> Case:
    return train("data=csv", "data.source=my-org/mawqif", env={"HF_ENDPOINT": UNREACHABLE}, shown_env=("HF_ENDPOINT",))


@scenario("train-csv-unknown-format")
def _(s: Scene) -> Case:
    return train("data=csv", f"data.source={s.csv('tweets.txt', TWEETS_HEADER)}")


@scenario("train-csv-empty", slow=True)
def _(s: Scene) -> Case:
    return train("data=csv", f"data.source={s.csv('tweets.csv', '')}")


@scenario("train-csv-not-utf8", slow=True)
def _(s: Scene) -> Case:
    source = s.csv("tweets.csv", f"{TWEETS_HEADER}1,".encode() + TEXTS[0].encode("cp1256"))
    return train("data=csv", f"data.source={source}")


@scenario("train-csv-without-text-column", slow=True)
def _(s: Scene) -> Case:
    source = s.csv("tweets.csv", f"id,tweet,stance\n1,{TEXTS[0]},favor\n")
    return train("data=csv", f"data.source={source}")


@scenario("train-csv-unknown-label", slow=True)
def _(s: Scene) -> Case:
    return train("data=csv", f"data.source={stance_csv(s, 'tweets.csv', ['favor', 'Pro', 'against'])}")


@scenario("train-no-text", slow=True)
def _(s: Scene) -> Case:
    source = s.csv("tweets.csv", f"{TWEETS_HEADER}1,,favor\n2, ,against\n")
    return train("data=csv", f"data.source={source}")


@scenario("train-no-task-labels", slow=True)
def _(s: Scene) -> Case:
    return train("data=csv", f"data.source={stance_csv(s, 'tweets.csv', ['positive', 'negative'], 'sentiment')}",
                 "task=stance")


@scenario("train-one-class", slow=True)
def _(s: Scene) -> Case:
    return train("data=csv", f"data.source={stance_csv(s, 'tweets.csv', ['favor'] * 4)}")


@scenario("train-labels-outside-task", slow=True)
def _(s: Scene) -> Case:
    return train("data=csv", f"data.source={stance_csv(s, 'tweets.csv', ['favor', 'against', 'none'])}",
                 "task.labels=[favor,against]")


@scenario("train-max-train-samples-zero", slow=True)
def _(s: Scene) -> Case:
    # The project's own dataset, through a cold datasets cache: its "Generating train split" progress
    # bar would be a second line before the error.
    return train("max_train_samples=0", env={"HF_DATASETS_CACHE": str(s.folder("hf-datasets-cache"))})


@scenario("train-max-train-samples-not-a-number", slow=True)
def _(s: Scene) -> Case:
    return train("max_train_samples=abc", env={"HF_DATASETS_CACHE": str(s.folder("hf-datasets-cache"))})


@scenario("train-fit-in-subprocess-not-a-switch", slow=True)
def _(s: Scene) -> Case:
    return train("fit_in_subprocess=maybe")


@scenario("train-unknown-protocol", slow=True)
def _(s: Scene) -> Case:
    return train("data=csv", f"data.source={stance_csv(s, 'tweets.csv', ['favor', 'against'])}",
                 "eval.protocol=bootstrap")


@scenario("train-holdout-without-test-split", slow=True)
def _(s: Scene) -> Case:
    return train("data=csv", f"data.source={stance_csv(s, 'tweets.csv', ['favor', 'against'])}", "eval=holdout")


@scenario("train-cross-dataset-without-target", slow=True)
def _(s: Scene) -> Case:
    return train("data=csv", f"data.source={stance_csv(s, 'tweets.csv', ['favor', 'against'])}",
                 "eval.protocol=cross_dataset")


# These three fail inside the protocol, after the MLflow run has started (it ends FAILED).

FOLDS = ["favor", "favor", "favor", "against"]


@scenario("train-kfold-k-out-of-range", store=True)
def _(s: Scene) -> Case:
    return train("data=csv", f"data.source={stance_csv(s, 'tweets.csv', FOLDS)}", "eval=kfold", "eval.k=1",
                 env={"MLFLOW_TRACKING_URI": s.store.uri})


@scenario("train-kfold-k-not-a-number", store=True)
def _(s: Scene) -> Case:
    return train("data=csv", f"data.source={stance_csv(s, 'tweets.csv', FOLDS)}", "eval=kfold", "eval.k=five",
                 env={"MLFLOW_TRACKING_URI": s.store.uri})


@scenario("train-fold-with-one-class", store=True)
def _(s: Scene) -> Case:
    return train("data=csv", f"data.source={stance_csv(s, 'tweets.csv', FOLDS)}", "eval=kfold", "eval.k=2",
                 env={"MLFLOW_TRACKING_URI": s.store.uri})


# --- tracking


@scenario("tracking-server-unreachable")
def _(s: Scene) -> Case:
    return train(f"tracking.uri={UNREACHABLE}")


@scenario("tracking-server-unreachable-from-env")
def _(s: Scene) -> Case:
    return train(env={"MLFLOW_TRACKING_URI": UNREACHABLE}, shown_env=("MLFLOW_TRACKING_URI",))


@scenario("tracking-connect-timeout-not-a-number")
def _(s: Scene) -> Case:
    return train("tracking.connect_timeout=abc")


@scenario("report-server-unreachable")
def _(s: Scene) -> Case:
    return Case(["report", "--tracking-uri", UNREACHABLE], hidden=["--output-dir", str(s.tmp / "report")])


@scenario("ui-on-a-server")
def _(s: Scene) -> Case:
    return Case(["ui", "--tracking-uri", UNREACHABLE])


# --- report


def report(s: Scene, *args: str) -> Case:
    env = {"MLFLOW_TRACKING_URI": s.store.uri} if s.store is not None else {}
    return Case(["report", *args], env=env, hidden=["--output-dir", str(s.tmp / "report")])


@scenario("report-unknown-experiment", store=True)
def _(s: Scene) -> Case:
    return report(s, "--experiment", "baseline")


@scenario("report-no-matching-runs", store=True)
def _(s: Scene) -> Case:
    return report(s, "--experiment", "broken", "--task", "sentiment")


@scenario("report-run-without-predictions", store=True)
def _(s: Scene) -> Case:
    return report(s, "--experiment", "broken")


@scenario("report-too-few-resamples")
def _(s: Scene) -> Case:
    return report(s, "--resamples", "10")


@scenario("report-confidence-out-of-range")
def _(s: Scene) -> Case:
    return report(s, "--confidence", "95")


@scenario("report-bad-name")
def _(s: Scene) -> Case:
    return report(s, "--name", "../baselines")


# --- predict: model URIs (checked against the store after the inputs), then inputs (checked before
# MLflow is imported, so any --model will do: about 0.3 s each).

SENTENCE = TEXTS[0]
CHAMPION = "models:/stancebench-stance@champion"
UNKNOWN_RUN = "0123456789abcdef0123456789abcdef"


def predict(s: Scene, model: str, *args: str, **kwargs) -> Case:
    """``predict --model MODEL ARGS``; against the module's store when the scenario has one."""
    env = {"MLFLOW_TRACKING_URI": s.store.uri} if s.store is not None else {}
    return Case(["predict", "--model", model, *args], env=env, **kwargs)


@scenario("predict-model-path-missing")
def _(s: Scene) -> Case:
    return predict(s, str(s.folder() / "model"), SENTENCE)


@scenario("predict-model-folder-not-a-model")
def _(s: Scene) -> Case:
    folder = s.folder("outputs")
    (folder / "model.skops").write_bytes(b"PK\x03\x04")
    return predict(s, str(folder), SENTENCE)


@scenario("predict-model-without-pyfunc-flavour", slow=True)
def _(s: Scene) -> Case:
    folder = s.folder("onnx-model")
    (folder / "MLmodel").write_text("artifact_path: model\nflavors:\n  onnx:\n    data: model.onnx\n",
                                    encoding="utf-8")
    return predict(s, str(folder), SENTENCE)


@scenario("predict-no-tracking-store", slow=True)
def _(s: Scene) -> Case:
    return predict(s, f"runs:/{UNKNOWN_RUN}/model", SENTENCE)  # run_case's store: a file nobody created


@scenario("predict-tracking-server-unreachable", slow=True)
def _(s: Scene) -> Case:
    return predict(s, CHAMPION, "--tracking-uri", UNREACHABLE, SENTENCE)


@scenario("predict-unknown-run", store=True)
def _(s: Scene) -> Case:
    return predict(s, f"runs:/{UNKNOWN_RUN}/model", SENTENCE)


@scenario("predict-run-artifact-path-wrong", model=True)
def _(s: Scene) -> Case:
    return predict(s, f"runs:/{s.store.run_id}/classifier", SENTENCE)


@scenario("predict-unknown-registered-model", model=True)
def _(s: Scene) -> Case:
    return predict(s, "models:/stance-model/1", SENTENCE)


@scenario("predict-registered-model-without-version", model=True)
def _(s: Scene) -> Case:
    return predict(s, "models:/stancebench-stance", SENTENCE)


@scenario("predict-unknown-model-version", model=True)
def _(s: Scene) -> Case:
    return predict(s, "models:/stancebench-stance/7", SENTENCE)


@scenario("predict-unknown-alias", model=True)
def _(s: Scene) -> Case:
    return predict(s, CHAMPION, SENTENCE)


@scenario("predict-unknown-logged-model", store=True)
def _(s: Scene) -> Case:
    return predict(s, "models:/m-" + "0" * 32, SENTENCE)


@scenario("predict-target-missing", model=True)
def _(s: Scene) -> Case:
    return predict(s, f"runs:/{s.store.run_id}/model", SENTENCE)  # the module's model is target-aware


@scenario("predict-no-input")
def _(s: Scene) -> Case:
    return predict(s, CHAMPION)


@scenario("predict-arguments-and-input")
def _(s: Scene) -> Case:
    return predict(s, CHAMPION, "--input", str(s.csv("news.txt", SENTENCE + "\n")), SENTENCE)


@scenario("predict-input-missing")
def _(s: Scene) -> Case:
    return predict(s, CHAMPION, "--input", str(s.folder() / "news.txt"))


@scenario("predict-input-empty")
def _(s: Scene) -> Case:
    return predict(s, CHAMPION, "--input", str(s.csv("news.txt", "\n  \n")))


@scenario("predict-input-not-utf8")
def _(s: Scene) -> Case:
    return predict(s, CHAMPION, "--input", str(s.csv("news.txt", f"{TEXTS[1]}\n".encode() + SENTENCE.encode("cp1256"))))


@scenario("predict-argument-not-utf8")
def _(s: Scene) -> Case:
    # The bytes a Windows-1256 terminal sends; Python hands undecodable argv bytes over as lone surrogates.
    return predict(s, CHAMPION, SENTENCE.encode("cp1256").decode("utf-8", "surrogateescape"))


@scenario("predict-csv-without-text-column")
def _(s: Scene) -> Case:
    return predict(s, CHAMPION, "--input", str(s.csv("tweets.csv", f"id,tweet\n1,{SENTENCE}\n")))


@scenario("predict-csv-short-row")
def _(s: Scene) -> Case:
    return predict(s, CHAMPION, "--input", str(s.csv("tweets.csv", f"id,text\n1,{SENTENCE}\n2\n")))


@scenario("predict-jsonl-bad-json")
def _(s: Scene) -> Case:
    return predict(s, CHAMPION, "--input", str(s.csv("tweets.jsonl", jsonl({"text": SENTENCE}) + '{"text": \n')))


@scenario("predict-jsonl-not-an-object")
def _(s: Scene) -> Case:
    return predict(s, CHAMPION, "--input", str(s.csv("tweets.jsonl", '["قال الكرملين"]\n')))


@scenario("predict-jsonl-without-text-field")
def _(s: Scene) -> Case:
    return predict(s, CHAMPION, "--input", str(s.csv("tweets.jsonl", jsonl({"id": 1, "tweet": SENTENCE}))))


@scenario("predict-batch-size-zero")
def _(s: Scene) -> Case:
    return predict(s, CHAMPION, "--batch-size", "0", SENTENCE)


@scenario("predict-output-folder-missing")
def _(s: Scene) -> Case:
    return predict(s, CHAMPION, "--output", str(s.folder() / "out" / "labels.jsonl"), SENTENCE)


# --- the command line


@scenario("unknown-command")
def _(s: Scene) -> Case:
    return Case(["lable"])


# ----------------------------------------------------------------- running a scenario


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    """A SQLite store with an experiment ``broken`` holding one finished run that logged no predictions.

    Made here, not by the CLI: MLflow announces a store's creation on stderr, which is no part of an error.
    """
    import mlflow

    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("broken", artifact_location=(folder / "mlruns" / "broken").as_uri())
    run = client.create_run(experiment, tags={"model": "tfidf_logreg", "model_family": "tfidf", "task": "stance",
                                              "dataset": "peace-talks-ar"})
    client.set_terminated(run.info.run_id, "FINISHED")
    return Store(uri)


@pytest.fixture(scope="module")
def model_store(store, tmp_path_factory) -> Store:
    """The module's store with one small TF-IDF stance model (logreg, eval=kfold with 2 folds) trained on
    the committed sentences, each given a stance target, so the model is target-aware; registered as
    version 1 of stancebench-stance, with no alias.  It goes to experiment stancebench, not broken."""
    from stancebench.experiment.train import train

    from training_helpers import compose_cfg

    folder = tmp_path_factory.mktemp("model")
    rows = [json.loads(line) for line in
            (COMMITTED_DATASET / "data" / "sentences.jsonl").read_text(encoding="utf-8").splitlines()]
    data = folder / "targets.jsonl"
    data.write_text(jsonl(*({"id": r["id"], "text": r["text"], "target": ["peace talks", "elections"][i % 2],
                             "stance": r["stance"]} for i, r in enumerate(rows))), encoding="utf-8")
    result = train(compose_cfg([
        "data=csv", f"data.source={data}", "eval=kfold", "eval.k=2", "eval.bootstrap_resamples=50",
        "register=true", f"tracking.uri={store.uri}", f"tracking.artifact_location={folder / 'mlruns'}",
        f"output_dir={folder / 'out'}"]))
    return Store(store.uri, run_id=result["run_id"])


def run_case(case: Case, cwd: Path, debug: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for name in ("STANCEBENCH_DEBUG", "HYDRA_FULL_ERROR"):
        env.pop(name, None)
    # Whatever a scenario does, runs and stores stay in its folder, never the project's mlflow.db.
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{cwd / 'mlflow.db'}"
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env.update(case.env)
    if debug:
        env["STANCEBENCH_DEBUG"] = "1"
    return subprocess.run([sys.executable, "-m", "stancebench", *case.args, *case.hidden], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, encoding="utf-8", timeout=180)


def _params():
    return [pytest.param(row.id, marks=pytest.mark.slow) if row.id in SCENARIOS and SCENARIOS[row.id].slow
            else row.id for row in ROWS]


def test_every_row_has_a_scenario_and_every_scenario_a_row():
    ids = [row.id for row in ROWS]
    assert len(ids) == len(set(ids)), f"ids used twice: {sorted({i for i in ids if ids.count(i) > 1})}"
    assert sorted(set(ids) - set(SCENARIOS)) == [], "rows without a scenario"
    assert sorted(set(SCENARIOS) - set(ids)) == [], "scenarios without a row in docs/errors.md"


@pytest.mark.parametrize("row_id", _params())
def test_the_user_sees_the_documented_message(row_id, tmp_path, request):
    row = ROWS_BY_ID[row_id]
    assert row_id in SCENARIOS, f"no scenario for the row {row_id!r} of docs/errors.md"
    spec = SCENARIOS[row_id]
    fixture = "model_store" if spec.model else "store" if spec.store else None
    scene = Scene(tmp_path, request.getfixturevalue(fixture) if fixture else None)
    case = spec.make(scene)
    assert pattern(row.command, PLACEHOLDERS).fullmatch(case.shown()), \
        f"docs/errors.md shows `{row.command}` for {row_id}, the scenario runs `{case.shown()}`"
    proc = run_case(case, tmp_path)
    seen = f"exit {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    assert proc.returncode == row.exit, seen
    assert "Traceback" not in proc.stderr, seen
    lines = proc.stderr.splitlines()
    if row.exit == 2:  # stancebench's own errors: one line, nothing else
        assert len(lines) == 1 and proc.stdout == "", seen
    assert lines and pattern(row.message, PLACEHOLDERS).fullmatch(lines[0]), \
        f"documented:\n  {row.message}\nseen:\n  {lines[0] if lines else ''}\n{seen}"


@pytest.mark.parametrize("row_id", ["seed-empty", "train-source-not-set"])
def test_stancebench_debug_shows_the_traceback(row_id, tmp_path):
    proc = run_case(SCENARIOS[row_id].make(Scene(tmp_path, None)), tmp_path, debug=True)
    assert proc.returncode != 0
    assert "Traceback (most recent call last)" in proc.stderr and "UserError" in proc.stderr, proc.stderr
