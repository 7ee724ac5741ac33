"""Shared fixtures: where the repository and the shared data live, and throw-away project copies."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
SEEDS = REPO_ROOT / "seeds"
SEED_FILE = SEEDS / "000_e513dfa207b60504.txt"
SEED_ARTICLE_ID = SEED_FILE.stem
ANNOTATIONS = REPO_ROOT / "data" / "annotations"
ADJUDICATION = REPO_ROOT / "data" / "adjudication.jsonl"
COMMITTED_DATASET = REPO_ROOT / "data" / "peace-talks-ar"
ARSARCASM = SHARED / "datasets" / "arsarcasm-v2"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's inputs (seeds/, data/annotations/, data/adjudication.jsonl) in tmp_path."""
    root = tmp_path / "project"
    shutil.copytree(SEEDS, root / "seeds")
    shutil.copytree(ANNOTATIONS, root / "data" / "annotations")
    shutil.copy2(ADJUDICATION, root / "data" / "adjudication.jsonl")
    return root


@pytest.fixture
def built_project(project: Path) -> Path:
    """The project copy with its dataset built into data/peace-talks-ar."""
    from stancebench.corpus.dataset import ProjectPaths, build

    build(ProjectPaths.under(project))
    return project


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, for byte-for-byte comparisons."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def run_cli():
    """Run ``python -m stancebench ARGS`` in a subprocess; returns the CompletedProcess (text mode)."""

    def run(*args: str, env: dict[str, str | None] | None = None, timeout: float = 60, cwd: Path | None = None):
        """``env`` adds variables to the current environment; a value of None removes one."""
        full_env = dict(os.environ)
        full_env.pop("STANCEBENCH_DEBUG", None)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        return subprocess.run(
            [sys.executable, "-m", "stancebench", *map(str, args)],
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=full_env,
            timeout=timeout,
            cwd=cwd or REPO_ROOT,
        )

    return run


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A tiny randomly initialised BERT with a WordPiece vocabulary trained on real Arabic text (seconds on CPU)."""
    import json

    import pandas as pd

    from stancebench.models.tiny import build_tiny_bert

    sentences = COMMITTED_DATASET / "data" / "sentences.jsonl"
    texts = [json.loads(line)["text"] for line in sentences.read_text(encoding="utf-8").splitlines()]
    tweets = pd.read_csv(ARSARCASM / "ArSarcasm-v2" / "training_data.csv", dtype=str, keep_default_na=False)["tweet"]
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), texts + list(tweets[:1500]))


@pytest.fixture
def spawn(project):
    """Start ``stancebench label --annotator NAME`` on the project copy in a pseudo-terminal.

    Answers go to ``project/ann``; every session still alive at the end is killed.
    """
    import signal

    import pexpect

    children: list = []

    def start(annotator: str = "tester"):
        child = pexpect.spawn(
            sys.executable,
            ["-m", "stancebench", "label", "--annotator", annotator,
             "--seeds", str(project / "seeds"), "--annotations", str(project / "ann")],
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, encoding="utf-8", timeout=15, dimensions=(60, 500),
        )
        children.append(child)
        return child

    yield start
    for child in children:
        if child.isalive():
            child.kill(signal.SIGKILL)
        child.close(force=True)
