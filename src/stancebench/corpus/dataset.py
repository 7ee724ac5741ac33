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
from dataclasses import dataclass, field
from pathlib import Path

from stancebench.corpus.annotation import DIMENSIONS, LABELS
from stancebench.corpus.labelled import (
    N_FOLDS,
    SEED_SOURCE,
    SENTENCE_COLUMNS,
    LabelledSet,
    build_sets,
    posts_set,
)
from stancebench.errors import UserError
from stancebench.jsonl import read_json_lines

DATASET_NAME = "peace-talks-ar"
DATASET_VERSION = "2.0.0"
CHECKSUM_FILE = "SHA256SUMS"
# Checksums of the files joined from text kept upstream (never committed; see .gitignore).
UPSTREAM_CHECKSUM_FILE = "SHA256SUMS.upstream"
# Files every built dataset has; sources add data/<source>.jsonl (listed in the checksum files).
DATA_FILES = ("data/sentences.jsonl", "data/segments.jsonl", "agreement.json", "README.md")


@dataclass(frozen=True)
class ProjectPaths:
    """Where the inputs of a build live; defaults are the repository's own folders."""

    seeds: Path
    annotations: Path
    adjudication: Path
    output: Path
    sources: Path | None = None

    @classmethod
    def under(cls, root: Path) -> "ProjectPaths":
        root = Path(root)
        return cls(
            seeds=root / "seeds",
            annotations=root / "data" / "annotations",
            adjudication=root / "data" / "adjudication.jsonl",
            output=root / "data" / DATASET_NAME,
            sources=root / "data" / "sources",
        )


@dataclass(frozen=True)
class BuildOptions:
    """Where to read text kept upstream: ``source_paths`` overrides a source's local copy;
    ``skip_sources`` leaves sources out of this build (their labels still count on the card)."""

    source_paths: dict[str, Path] = field(default_factory=dict)
    skip_sources: frozenset[str] = frozenset()
    allow_download: bool = True


def _dumps(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "))


def sha256_file(path: Path) -> str:
    """The file's sha256, hex (dataset checksums, and the check of text kept upstream)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sums_text(folder: Path, names: list[str]) -> str:
    """``sha256sum`` lines for ``names`` (paths relative to ``folder``)."""
    return "".join(f"{sha256_file(folder / n)}  {n}\n" for n in names)


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


def data_file(labelled: LabelledSet) -> str:
    """Where a set's rows go in the dataset folder (the seed keeps v1's name)."""
    return "data/sentences.jsonl" if labelled.name == SEED_SOURCE else f"data/{labelled.name}.jsonl"


def dataset_layout(sets: list[LabelledSet]) -> dict:
    """The card's configs: ``default`` (split train: every train source; test: every test source; a
    dataset whose only source is the seed has it as its one split ``train``), one config per source,
    and ``segments``.  Only files that may be redistributed are in ``default``."""
    shared = [s for s in sets if s.redistributable]
    train = [data_file(s) for s in shared if s.split == "train"]
    test = [data_file(s) for s in shared if s.split == "test"]
    default = {"train": train, "test": test} if train else {"train": test}
    return {"default": default, "sources": {s.name: data_file(s) for s in sets}}


def agreement_summary(sets: list[LabelledSet]) -> dict:
    out = {}
    for labelled in sets:
        entry = dict(labelled.agreement)
        if labelled.intent is not None:
            entry["intended"] = labelled.intent
        if labelled.diversity is not None:
            entry["diversity"] = labelled.diversity
        out[labelled.name] = entry
    return out


def build(paths: ProjectPaths, options: BuildOptions | None = None) -> dict:
    """Write the dataset folder atomically and return a summary.

    Committed files (``SHA256SUMS``) are the same whether or not text kept upstream was available;
    the rows joined from such text go to their own files, listed in ``SHA256SUMS.upstream``.
    """
    from stancebench.corpus.card import (
        render_card,  # the card template is only needed here
    )

    segments, sets = build_sets(paths, options)
    agreement = agreement_summary(sets)
    layout = dataset_layout(sets)
    output = Path(paths.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    _recover(output)
    _remove_leftovers(output)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-{os.getpid()}-", dir=output.parent))
    aside = output.parent / f".{output.name}.old-{os.getpid()}"
    committed, upstream = [], []
    try:
        for labelled in sets:
            name = data_file(labelled)
            if labelled.has_text:
                _write_text(staging / name, "".join(_dumps(r) + "\n" for r in labelled.rows))
                (committed if labelled.redistributable else upstream).append(name)
        _write_text(staging / "data" / "segments.jsonl", "".join(_dumps(s.to_dict()) + "\n" for s in segments))
        agreement_text = json.dumps(agreement, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        _write_text(staging / "agreement.json", agreement_text)
        sizes = {n: (staging / n).stat().st_size for n in [*committed, "data/segments.jsonl"]}
        _write_text(staging / "README.md",
                    render_card(sets, segments, layout, DATASET_VERSION, N_FOLDS, sizes))
        committed += ["data/segments.jsonl", "agreement.json", "README.md"]
        _write_text(staging / CHECKSUM_FILE, _sums_text(staging, committed))
        if upstream:
            _write_text(staging / UPSTREAM_CHECKSUM_FILE, _sums_text(staging, upstream))
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
    seed = sets[0]
    return {
        "output": str(output),
        "sentences": len(seed.rows),
        "segments": len(segments),
        "boilerplate": sum(s.boilerplate for s in segments),
        "agreement": seed.agreement,
        "sources": {s.name: {"rows": len(s.rows), "split": s.split, "built": s.has_text} for s in sets},
    }


def join_upstream(paths: ProjectPaths, name: str, options: BuildOptions | None = None) -> Path:
    """Join one posts source's text into an already built dataset folder (its rows file and
    ``SHA256SUMS.upstream``), leaving the committed files alone; returns the rows file.

    For ``train``: a fresh clone has the labels but not the joined text, and a run scored on that
    source joins it from the local copy on first use instead of failing.
    """
    from stancebench.corpus import sources as src
    from stancebench.paths import atomic_open

    options = options or BuildOptions(allow_download=False)
    found = src.read_sources(paths.sources) if paths.sources else []
    source = next((s for s in found if s.name == name and s.kind == "posts"), None)
    if source is None:
        raise UserError(f"no posts source {name!r} under {paths.sources}")
    output = Path(paths.output)
    if not (output / CHECKSUM_FILE).is_file():
        raise UserError(f"{output}: not built; run `python -m stancebench data build`")
    labelled = posts_set(source, options)
    rel = data_file(labelled)
    with atomic_open(output / rel) as f:
        f.write("".join(_dumps(r) + "\n" for r in labelled.rows))
    listed = sorted({*_read_sums(output / UPSTREAM_CHECKSUM_FILE, required=False), rel})
    with atomic_open(output / UPSTREAM_CHECKSUM_FILE) as f:
        f.write(_sums_text(output, listed))
    return output / rel


def validate(folder: Path) -> dict:
    """Check a dataset folder against its checksums and schema; raise UserError on the first problem."""
    folder = Path(folder)
    _recover(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: dataset folder not found; build it with `stancebench data build`")
    listed = _read_sums(folder / CHECKSUM_FILE, required=True)
    for name in DATA_FILES:
        if name not in listed:
            raise UserError(f"{folder / CHECKSUM_FILE}: no checksum for {name}; rebuild with `stancebench data build`")
    upstream = _read_sums(folder / UPSTREAM_CHECKSUM_FILE, required=False)
    for name, digest in {**listed, **upstream}.items():
        path = folder / name
        if not path.exists():
            raise UserError(f"{path}: missing; rebuild with `stancebench data build`")
        if sha256_file(path) != digest:
            raise UserError(
                f"{path}: checksum mismatch (file changed after the build); rebuild with `stancebench data build`"
            )
    counts: dict[str, Counter] = {d: Counter() for d in DIMENSIONS}
    seen: dict[str, tuple[str, int]] = {}
    row_files = [n for n in {**listed, **upstream} if n.startswith("data/") and n != "data/segments.jsonl"]
    for name in sorted(row_files):
        path = folder / name
        for lineno, row in read_json_lines(path, "rebuild with `stancebench data build`"):
            where = f"{path}:{lineno}"
            missing = [c for c in SENTENCE_COLUMNS if c not in row]
            if missing:
                raise UserError(f"{where}: missing column(s) {', '.join(missing)}")
            if row["id"] in seen:
                first_file, first_line = seen[row["id"]]
                first = f"at line {first_line}" if first_file == name else f"in {first_file}:{first_line}"
                raise UserError(f"{where}: duplicate id {row['id']!r} (first {first})")
            seen[row["id"]] = (name, lineno)
            for dim in DIMENSIONS:
                if row[dim] not in LABELS[dim]:
                    raise UserError(f"{where}: {dim} {row[dim]!r} is not one of {', '.join(LABELS[dim])}")
                if name == "data/sentences.jsonl":
                    counts[dim][row[dim]] += 1
            if not str(row["text"] or "").strip():
                raise UserError(f"{where}: empty text")
    sentences = sum(counts[DIMENSIONS[0]].values())
    return {"folder": str(folder), "sentences": sentences, "labels": {d: dict(c) for d, c in counts.items()},
            "rows": len(seen)}


def _read_sums(sums_path: Path, required: bool) -> dict[str, str]:
    if not sums_path.exists():
        if required:
            raise UserError(f"{sums_path}: checksum file missing; rebuild with `stancebench data build`")
        return {}
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
    return listed


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
