"""Local `evaluate` metric modules (the hub's metric scripts are out of reach offline).

Load them by path: ``evaluate.load(str(metric_path("stance_sentiment_scores")))``.
"""

from pathlib import Path


def metric_path(name: str) -> Path:
    """Absolute path of a metric module folder shipped with stancebench."""
    return Path(__file__).resolve().parent / name
