"""``python -m stancebench report`` itself: check the options, read, analyse, write, log, alias."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from stancebench.errors import UserError
from stancebench.paths import PROJECT_ROOT, atomic_open
from stancebench.report.analysis import build_groups, champion
from stancebench.report.figures import write_figures
from stancebench.report.html import render_html
from stancebench.report.markdown import render_markdown
from stancebench.report.records import Group, collect_runs
from stancebench.report.sections import build_document
from stancebench.report.summary import summary


def write_report(groups: list[Group], meta: dict[str, Any], folder: Path) -> list[Path]:
    """Write figures, report.md, report.html and report.json into ``folder``; returns the files.

    Each file is written to a temporary name and renamed; figures a previous report wrote and this
    one does not are removed (other files in the folder are left alone).
    """
    folder.mkdir(parents=True, exist_ok=True)
    files = write_figures(groups, folder)
    # Built after the figures: drawing them adds their paths, and a note when a plot is left out.
    document = build_document(groups, meta, folder)
    for name, text in (("report.md", render_markdown(document)), ("report.html", render_html(document)),
                       ("report.json", json.dumps(summary(groups, meta), indent=2, ensure_ascii=False) + "\n")):
        with atomic_open(folder / name) as f:
            f.write(text)
        files.append(folder / name)
    return files


def shown_store(uri: str) -> str:
    """The store as a report names it: a local store inside the project relative to the project (a
    committed report must not carry one machine's absolute paths), any other URI as given."""
    prefix = "sqlite:///"
    path, root = Path(uri.removeprefix(prefix)), PROJECT_ROOT.resolve()
    if uri.startswith(prefix) and path.is_absolute() and path.resolve().is_relative_to(root):
        return f"{prefix}{path.resolve().relative_to(root).as_posix()} (in the project)"
    return uri


def run_report(*, experiment: str, tracking_uri: str | None, name: str | None, output_dir: Path | None,
               datasets: list[str], tasks: list[str], models: list[str], exclude: list[str], alias: str | None,
               resamples: int, confidence: float, seed: int, max_errors: int, log: bool) -> dict[str, Any]:
    """Report on an experiment's finished training runs; returns the folder, groups, files and aliases set.

    With ``alias``, each task's best run is registered and the alias pointed at it; with ``log``,
    the report is logged to MLflow as a run of its own.
    """
    from stancebench.tracking import registry
    from stancebench.tracking.store import StoreSettings

    if resamples < 100:
        raise UserError(f"--resamples {resamples} is too few for a 95% interval; use 1000 or more (at least 100)")
    if not 0 < confidence < 1:
        raise UserError(f"--confidence {confidence} must be between 0 and 1, e.g. 0.95")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per downloaded file otherwise
    settings = StoreSettings.from_config(
        {"uri": tracking_uri, "experiment": experiment},
        way_out="pass --tracking-uri with a running server or a local store (sqlite:///PATH)")
    name = name or experiment
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise UserError(f"--name {name!r} must be a plain folder name (letters, digits, _ . -)")
    folder = (output_dir or PROJECT_ROOT / "experiments" / name).expanduser().resolve()
    records = collect_runs(settings, datasets, tasks, models, exclude)
    groups = build_groups(records, resamples, confidence, seed, max_errors)
    meta = {"name": name, "experiment": experiment, "tracking_uri": shown_store(settings.uri),
            "n_runs": len({r.run_id for r in records}),  # a run scored on several sets has a record per set
            "resamples": resamples, "confidence": confidence, "seed": seed}
    champions = champion(groups) if alias else {}  # before writing: an alias that cannot be set writes nothing
    files = write_report(groups, meta, folder)
    result: dict[str, Any] = {"folder": str(folder), "groups": groups, "files": files, "aliases": {}}
    if log:
        result["report_run_id"] = registry.log_report(
            settings, name, files, {"datasets": datasets, "tasks": tasks, "models": models, "exclude": exclude,
                                    "resamples": resamples, "confidence": confidence, "seed": seed})
    for task, (group, run) in champions.items():
        registered = f"stancebench-{task}"
        version = registry.set_model_alias(settings, run.run_id, registered, alias)
        result["aliases"][task] = {"name": registered, "version": version, "alias": alias, "run_id": run.run_id,
                                   "model": run.model}
    return result
