"""Terminal labelling tool: ``stancebench label --annotator NAME``.

Walks the sentences that this annotator has not fully labelled yet, showing each with its neighbours
for context.  Single keys choose labels; ``s`` skips, ``u`` undoes the last answer, ``q`` quits.

Durability: every answer is appended to ``<annotations>/<NAME>.jsonl`` and fsync'ed before the next
screen is drawn, so a ``kill -9`` loses nothing already answered; the next start replays the file and
resumes at the first sentence still missing a label.  Writes take an exclusive ``flock`` on the file,
so two sessions appending to the same file never interleave their lines; when two sessions of one
annotator answer the same question, the later answer takes the earlier back in its own line (both stay
on record, the later stands), so the file never holds a duplicate.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from stancebench.corpus.annotation import DIMENSIONS, LABELS, read_annotator_file
from stancebench.corpus.articles import Segment, segment_corpus
from stancebench.errors import UserError

ANNOTATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KEYS = {dim: {str(i + 1): label for i, label in enumerate(LABELS[dim])} for dim in DIMENSIONS}
CLEAR = "\x1b[2J\x1b[H"


@dataclass
class AnswerLog:
    """The annotator's append-only file, with the order in which answers were given."""

    path: Path
    known_ids: list[str]

    def state(self) -> tuple[dict[str, dict[str, str]], list[tuple[str, str]]]:
        """(labels by dimension, history of (id, dimension) answers still standing, oldest first)."""
        if not self.path.exists():
            return {d: {} for d in DIMENSIONS}, []
        labels = read_annotator_file(self.path, self.known_ids).labels
        history: list[tuple[str, str]] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            for dim in record.get("retract", []):
                history = [h for h in history if h != (record["id"], dim)]
            history.extend((record["id"], d) for d in DIMENSIONS if d in record)
        return labels, history

    def append(self, record: dict) -> None:
        """Append one record durably: exclusive lock, write, fsync.

        Another session of the same annotator may have answered the same question since this one
        drew its screen; the record then takes that answer back in the same line (the later answer
        stands, the earlier stays on record), so the file never holds a duplicate and stays readable.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            answered = _answered(os.pread(fd, size, 0), record["id"]) if size else set()
            taken_back = [d for d in DIMENSIONS if d in record and d in answered]
            if taken_back:
                retract = list(dict.fromkeys([*record.get("retract", []), *taken_back]))
                record = {"id": record["id"], "retract": retract,
                          **{k: v for k, v in record.items() if k not in ("id", "retract")}}
            data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a hand-edited file without a final newline: never glue two lines
            os.write(fd, data)
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _answered(content: bytes, sentence_id: str) -> set[str]:
    """The dimensions of ``sentence_id`` that a log's content has set and not taken back."""
    answered: set[str] = set()
    for line in content.decode("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # reported by the reader, with its line number
        if not isinstance(record, dict) or record.get("id") != sentence_id:
            continue
        retract = record.get("retract", [])
        answered.difference_update(retract if isinstance(retract, list) else [])
        answered.update(d for d in DIMENSIONS if d in record)
    return answered


def _screen(sentences: list[Segment], pos: int, dim: str, done: int, partial: dict[str, str], annotator: str) -> str:
    seg = sentences[pos]
    prev_text = sentences[pos - 1].text if pos > 0 and sentences[pos - 1].article_id == seg.article_id else ""
    next_text = (
        sentences[pos + 1].text
        if pos + 1 < len(sentences) and sentences[pos + 1].article_id == seg.article_id
        else ""
    )
    keys = "  ".join(f"[{k}] {v}" for k, v in KEYS[dim].items())
    chosen = "  ".join(f"{d}={v}" for d, v in partial.items())
    return (
        f"{CLEAR}stancebench label  annotator={annotator}  labelled {done}/{len(sentences)}\n"
        f"article {seg.article_id}  sentence {seg.index}  id {seg.id}\n\n"
        f"  before: {prev_text or '-'}\n\n"
        f">> {seg.text}\n\n"
        f"  after:  {next_text or '-'}\n\n"
        f"{dim.upper()} toward 'peace talks'{'  (' + chosen + ')' if chosen else ''}\n"
        f"{keys}   [s] skip  [u] undo  [q] quit\n"
    )


def run_labelling(
    annotator: str,
    seeds: Path,
    annotations: Path,
    read_key: Callable[[], str],
    out: TextIO,
) -> dict:
    """The labelling loop, independent of the terminal: keys in through ``read_key``, screens to ``out``."""
    if not ANNOTATOR_NAME.match(annotator):
        raise UserError(f"--annotator {annotator!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    if Path(annotations).exists() and not Path(annotations).is_dir():  # else the first answer fails to save
        raise UserError(f"--annotations {annotations}: not a folder; pass the folder that holds the annotator files")
    sentences = [s for s in segment_corpus(seeds) if not s.boilerplate]
    log = AnswerLog(Path(annotations) / f"{annotator}.jsonl", [s.id for s in sentences])
    skipped: set[str] = set()
    answered = 0
    while True:
        labels, history = log.state()
        done = sum(all(s.id in labels[d] for d in DIMENSIONS) for s in sentences)
        todo = [
            i for i, s in enumerate(sentences)
            if s.id not in skipped and not all(s.id in labels[d] for d in DIMENSIONS)
        ]
        if not todo:
            out.write(f"{CLEAR}Nothing left to label for {annotator}: {done}/{len(sentences)} labelled"
                      f"{f', {len(skipped)} skipped' if skipped else ''}.\n")
            out.flush()
            return {"answered": answered, "labelled": done, "total": len(sentences), "skipped": len(skipped)}
        pos = todo[0]
        seg = sentences[pos]
        dim = next(d for d in DIMENSIONS if seg.id not in labels[d])
        partial = {d: labels[d][seg.id] for d in DIMENSIONS if seg.id in labels[d]}
        out.write(_screen(sentences, pos, dim, done, partial, annotator))
        out.flush()
        key = read_key()
        if key in KEYS[dim]:
            log.append({"id": seg.id, dim: KEYS[dim][key]})
            answered += 1
        elif key == "s":
            skipped.add(seg.id)
        elif key == "u":
            if history:
                sid, last_dim = history[-1]
                log.append({"id": sid, "retract": [last_dim]})
                skipped.discard(sid)
        elif key in ("q", "\x03", "\x04", ""):  # q, Ctrl-C, Ctrl-D, end of input
            out.write(f"\nStopped. {done}/{len(sentences)} labelled; answers are saved in {log.path}\n")
            out.flush()
            return {"answered": answered, "labelled": done, "total": len(sentences), "skipped": len(skipped)}


def terminal_key_reader(stream: TextIO = sys.stdin) -> Callable[[], str]:
    """A function that returns one key press (raw mode on a TTY, one character otherwise)."""
    if not stream.isatty():
        return lambda: stream.read(1)
    import termios
    import tty

    fd = stream.fileno()

    def read_key() -> str:
        old = termios.tcgetattr(fd)
        try:
            # TCSANOW, not setraw's default TCSAFLUSH: flushing would throw away keys typed ahead
            # while the previous answer was being saved, and a quick "1" "3" would lose the "3".
            tty.setraw(fd, termios.TCSANOW)
            return os.read(fd, 1).decode("utf-8", errors="replace")
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)

    return read_key
