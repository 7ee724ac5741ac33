"""``python -m stancebench``: see :mod:`stancebench.cli`."""

import sys

from stancebench.cli import main

sys.exit(main())
