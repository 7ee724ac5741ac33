"""Where the project checkout is: the folder holding conf/, data/ and seeds/.

stancebench is used from a clone (editable install, src layout), so the checkout is two folders
above this package.
"""

from pathlib import Path

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
