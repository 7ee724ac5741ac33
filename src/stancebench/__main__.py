"""``python -m stancebench``: see :mod:`stancebench.cli`."""

from stancebench.cli import entry

if __name__ == "__main__":  # not when a helper process re-imports the main module
    entry()
