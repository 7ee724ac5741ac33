"""Keeping torch (and transformers) out of processes that never use them.

Two libraries on the TF-IDF path import torch only as a side effect: ``evaluate`` imports
``transformers`` for its ``evaluator`` API, and ``skops.io`` walks every scikit-learn module at
import time, reaching ``sklearn.externals.array_api_compat.torch``.  Together that was ~10 s of a
~15 s TF-IDF run on 2 cores (and ``transformers`` alone, without torch, still ~0.6 s).  Both
libraries treat a missing optional module as "not installed" and carry on, so while they are
imported we make the modules that lead to torch look absent.  The blocking is undone right after:
torch and transformers stay importable for the transformer models.
"""

from __future__ import annotations

import importlib
import sys
from contextlib import contextmanager
from types import ModuleType

# The modules through which those imports reach torch.  Hiding torch itself breaks array-API
# helpers that look torch up in sys.modules; hiding these entry points does not.
TORCH_SIDE_DOORS = ("transformers", "sklearn.externals.array_api_compat.torch")


@contextmanager
def modules_hidden(names: tuple[str, ...]):
    """Make ``import name`` raise ImportError inside the block, for names not imported yet."""
    hidden = [n for n in names if n not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not found" marker
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def import_without_torch(module: str) -> ModuleType:
    """Import ``module``; when torch is not loaded yet, keep it from being loaded as a side effect."""
    if module in sys.modules or "torch" in sys.modules:
        return importlib.import_module(module)
    with modules_hidden(TORCH_SIDE_DOORS):
        return importlib.import_module(module)
