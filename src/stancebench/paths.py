"""Where the project checkout is (the folder holding conf/, data/ and seeds/), and writing files whole.

stancebench is used from a clone (editable install, src layout), so the checkout is two folders
above this package.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms of `--help`, which imports this module
    from typing import IO

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def resolve_source(source: str) -> str:
    """Relative local paths: the current folder first, then the project root; hub ids stay."""
    path = Path(source).expanduser()
    if path.is_absolute() or path.exists():
        return str(path.resolve()) if path.exists() else str(path)
    under_root = PROJECT_ROOT / path
    if under_root.exists():
        return str(under_root.resolve())
    return source


@contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO]:
    """Write ``path`` through a temporary file in its folder, renamed over it only when the block ends
    without an error: a reader never sees half a file, and a failure leaves the old one (or none)."""
    import tempfile  # here, not at the top: the CLI imports this module and --help stays light

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
