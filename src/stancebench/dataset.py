"""Building, validating and publishing the labelled dataset ``data/peace-talks-ar``.

Layout of a built dataset folder::

    README.md            dataset card (Hugging Face YAML header: configs, features, licence)
    data/sentences.jsonl the labelled set: one row per non-boilerplate sentence (split "train")
    data/segments.jsonl  every segment of every article, boilerplate included (config "segments")
    agreement.json       inter-annotator agreement per dimension, computed from the annotator files
    SHA256SUMS           checksums of every file above, in ``sha256sum -c`` format

The build is deterministic (no timestamps, fixed key order) and atomic: everything is written into a
temporary sibling folder which then replaces the old one; a build killed half-way leaves the previous
dataset in place, and one killed between the two renames is restored by the next build or validate.
The staging and set-aside folders carry the builder's process id; the next build removes those whose
process is gone (a ``kill -9`` leaves them behind) and never touches those of a build still running.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from stancebench.annotation import (
    DIMENSIONS,
    LABELS,
    TARGET,
    agreement_report,
    gold_labels,
    read_adjudication,
    read_annotators,
)
from stancebench.corpus import Segment, segment_corpus
from stancebench.errors import UserError
from stancebench.jsonl import read_json_lines

DATASET_NAME = "peace-talks-ar"
DATASET_VERSION = "1.0.0"
N_FOLDS = 5
CHECKSUM_FILE = "SHA256SUMS"
DATA_FILES = ("data/sentences.jsonl", "data/segments.jsonl", "agreement.json", "README.md")
SENTENCE_COLUMNS = (
    "id", "article_id", "sentence_index", "start", "end", "text", "target", "stance", "sentiment",
    "fold", "annotators", "stance_votes", "sentiment_votes", "stance_agreement",
    "sentiment_agreement", "stance_adjudicated", "sentiment_adjudicated",
)


@dataclass(frozen=True)
class ProjectPaths:
    """Where the inputs of a build live; defaults are the repository's own folders."""

    seeds: Path
    annotations: Path
    adjudication: Path
    output: Path

    @classmethod
    def under(cls, root: Path) -> "ProjectPaths":
        root = Path(root)
        return cls(
            seeds=root / "seeds",
            annotations=root / "data" / "annotations",
            adjudication=root / "data" / "adjudication.jsonl",
            output=root / "data" / DATASET_NAME,
        )


def _dumps(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "))


def _assign_folds(rows: list[dict], k: int) -> None:
    """Deterministic folds, stratified on (stance, sentiment) by dealing sorted rows round-robin."""
    k = max(1, min(k, len(rows)))
    ordered = sorted(rows, key=lambda r: (r["stance"], r["sentiment"], r["id"]))
    for i, row in enumerate(ordered):
        row["fold"] = i % k


def build_rows(paths: ProjectPaths) -> tuple[list[Segment], list[dict], dict]:
    """Segments, labelled rows and the agreement report, computed from the project's files."""
    if not Path(paths.seeds).is_dir():  # the build takes --root, not --seeds: say so
        raise UserError(f"{paths.seeds}: seeds folder not found; pass --root with the folder that holds seeds/ "
                        "and data/")
    segments = segment_corpus(paths.seeds)
    labelled = [s for s in segments if not s.boilerplate]
    if not labelled:
        raise UserError(f"{paths.seeds}: every segment is boilerplate; there is nothing to label")
    ids = [s.id for s in labelled]
    annotators = read_annotators(paths.annotations, known_ids=ids)
    if len(annotators) < 2:
        raise UserError(
            f"{paths.annotations}: {len(annotators)} annotator file(s); the dataset needs at least two "
            "independent passes (`stancebench label --annotator NAME`)"
        )
    decisions = read_adjudication(paths.adjudication, known_ids=ids)
    gold = gold_labels(annotators, decisions, ids, adjudication=paths.adjudication)
    agreement = agreement_report(annotators, ids)
    names = [a.annotator for a in annotators]
    rows = []
    for seg in labelled:
        row = {
            "id": seg.id,
            "article_id": seg.article_id,
            "sentence_index": seg.index,
            "start": seg.start,
            "end": seg.end,
            "text": seg.text,
            "target": TARGET,
            "stance": gold[seg.id]["stance"],
            "sentiment": gold[seg.id]["sentiment"],
            "fold": 0,
            "annotators": names,
        }
        for dim in DIMENSIONS:
            votes = [a.labels[dim].get(seg.id) for a in annotators]
            given = [v for v in votes if v is not None]
            row[f"{dim}_votes"] = [v if v is not None else "" for v in votes]
            row[f"{dim}_agreement"] = round(sum(v == gold[seg.id][dim] for v in given) / len(given), 4)
            row[f"{dim}_adjudicated"] = (seg.id, dim) in decisions
        rows.append({c: row[c] for c in SENTENCE_COLUMNS if c in row})
    _assign_folds(rows, N_FOLDS)
    rows = [{c: r[c] for c in SENTENCE_COLUMNS} for r in rows]
    return segments, rows, agreement


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def dataset_digest(folder: Path) -> str:
    """A short content digest of a dataset folder (from its checksum file), for run tags."""
    sums = Path(folder) / CHECKSUM_FILE
    if not sums.exists():
        return "unversioned"
    return hashlib.sha256(sums.read_bytes()).hexdigest()[:12]


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _recover(output: Path) -> None:
    """Restore a dataset left aside by a build that died between its two renames."""
    if output.exists():
        return
    leftovers = sorted(output.parent.glob(f".{output.name}.old-*"))
    if leftovers:
        leftovers[-1].rename(output)


def _owner_alive(name: str) -> bool:
    """Whether the build that made a ``.NAME.tmp-PID-*`` or ``.NAME.old-PID`` folder still runs."""
    match = re.search(r"\.(?:tmp|old)-(\d+)(?:-|$)", name)
    if match is None:
        return False  # not named after a process (older builds): nobody owns it
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of another user
    return True


def _remove_leftovers(output: Path) -> None:
    """Remove the staging and set-aside folders of builds that were killed (their process is gone)."""
    for leftover in output.parent.glob(f".{output.name}.*"):
        if leftover.is_dir() and re.search(r"\.(?:tmp|old)-", leftover.name) and not _owner_alive(leftover.name):
            shutil.rmtree(leftover, ignore_errors=True)


def build(paths: ProjectPaths) -> dict:
    """Write the dataset folder atomically and return a summary."""
    from stancebench.card import render_card  # the card template is only needed here

    segments, rows, agreement = build_rows(paths)
    output = Path(paths.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    _recover(output)
    _remove_leftovers(output)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-{os.getpid()}-", dir=output.parent))
    aside = output.parent / f".{output.name}.old-{os.getpid()}"
    try:
        _write_text(staging / "data" / "sentences.jsonl", "".join(_dumps(r) + "\n" for r in rows))
        _write_text(staging / "data" / "segments.jsonl", "".join(_dumps(s.to_dict()) + "\n" for s in segments))
        _write_text(staging / "agreement.json", json.dumps(agreement, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
        _write_text(staging / "README.md", render_card(rows, segments, agreement, DATASET_VERSION, N_FOLDS))
        sums = "".join(f"{_sha256(staging / name)}  {name}\n" for name in DATA_FILES)
        _write_text(staging / CHECKSUM_FILE, sums)
        os.chmod(staging, 0o755)
        if output.exists():
            output.rename(aside)
        staging.rename(output)
        if aside.exists():
            shutil.rmtree(aside)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if aside.exists() and not output.exists():
            aside.rename(output)  # failed between the two renames: put the previous dataset back
        raise
    return {
        "output": str(output),
        "sentences": len(rows),
        "segments": len(segments),
        "boilerplate": sum(s.boilerplate for s in segments),
        "agreement": agreement,
    }


def validate(folder: Path) -> dict:
    """Check a dataset folder against its checksums and schema; raise UserError on the first problem."""
    folder = Path(folder)
    _recover(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: dataset folder not found; build it with `stancebench data build`")
    sums_path = folder / CHECKSUM_FILE
    if not sums_path.exists():
        raise UserError(f"{sums_path}: checksum file missing; rebuild with `stancebench data build`")
    try:
        sums_text = sums_path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{sums_path}: not valid UTF-8; rebuild with `stancebench data build`") from None
    listed = {}
    for lineno, line in enumerate(sums_text.splitlines(), start=1):
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise UserError(f"{sums_path}:{lineno}: malformed line; expected '<sha256>  <file>'")
        listed[name] = digest
    for name in DATA_FILES:
        path = folder / name
        if name not in listed:
            raise UserError(f"{sums_path}: no checksum for {name}; rebuild with `stancebench data build`")
        if not path.exists():
            raise UserError(f"{path}: missing; rebuild with `stancebench data build`")
        if _sha256(path) != listed[name]:
            raise UserError(
                f"{path}: checksum mismatch (file changed after the build); rebuild with `stancebench data build`"
            )
    sentences = folder / "data" / "sentences.jsonl"
    seen: dict[str, int] = {}
    counts: dict[str, Counter] = {d: Counter() for d in DIMENSIONS}
    for lineno, row in read_json_lines(sentences, "rebuild with `stancebench data build`"):
        where = f"{sentences}:{lineno}"
        missing = [c for c in SENTENCE_COLUMNS if c not in row]
        if missing:
            raise UserError(f"{where}: missing column(s) {', '.join(missing)}")
        if row["id"] in seen:
            raise UserError(f"{where}: duplicate id {row['id']!r} (first at line {seen[row['id']]})")
        seen[row["id"]] = lineno
        for dim in DIMENSIONS:
            if row[dim] not in LABELS[dim]:
                raise UserError(f"{where}: {dim} {row[dim]!r} is not one of {', '.join(LABELS[dim])}")
            counts[dim][row[dim]] += 1
        if not str(row["text"]).strip():
            raise UserError(f"{where}: empty text")
    return {"folder": str(folder), "sentences": len(seen), "labels": {d: dict(c) for d, c in counts.items()}}


def publish(folder: Path, repo_id: str, private: bool = False, timeout: float = 5.0) -> str:
    """Push a validated dataset folder, card included, to the Hugging Face hub as a dataset repo."""
    from stancebench.hub import require_hub

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise UserError(f"--repo-id {repo_id!r} must look like ORG/NAME")
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise UserError(f"--repo-id {repo_id!r} is not a valid hub repo id: {exc}") from None
    validate(folder)
    endpoint = require_hub(timeout=timeout, what=f"publishing {repo_id}",
                           way_out="check the network or HF_ENDPOINT, then publish again")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=endpoint)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
                                   commit_message=f"stancebench {DATASET_NAME} {DATASET_VERSION}")
    except HfHubHTTPError as exc:
        reason = " ".join(str(exc).split())  # the hub's message spans lines; the CLI shows one
        raise UserError(f"hub refused the upload to {repo_id}: {reason}; check your token (`hf auth login`)") from None
    return str(getattr(commit, "commit_url", commit))
