"""``python -m stancebench``: see :mod:`stancebench.cli`."""

import sys

from stancebench.cli import main

if __name__ == "__main__":  # not when a helper process re-imports the main module
    sys.exit(main())
