"""Where the project checkout is: the folder holding conf/, data/ and seeds/.

stancebench is used from a clone (editable install, src layout), so the checkout is two folders
above this package.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
