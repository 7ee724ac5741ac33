"""Command-line entry point: ``python -m stancebench <command>`` and the ``stancebench`` script.

Only the standard library is imported here, so ``--help`` answers at once; each command imports what
it needs when it runs.  ``train`` (and ``report`` later) are Hydra applications: their arguments are
handed to Hydra untouched, so overrides, ``--cfg job`` and ``-m`` work as in any Hydra app.
User errors (``UserError``) print one line and exit 2; ``STANCEBENCH_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from stancebench.errors import UserError
from stancebench.paths import PROJECT_ROOT


COMMANDS = {
    "train": "train and evaluate a model (Hydra app: overrides, --cfg job, -m sweeps)",
    "data": "build, validate, publish or inspect the labelled dataset",
    "label": "label sentences in the terminal (--annotator NAME)",
    "ui": "open the MLflow UI on the project's tracking store",
}


def _data_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stancebench data", description="The labelled dataset peace-talks-ar.")
    sub = p.add_subparsers(dest="action", required=True)
    b = sub.add_parser("build", help="segment seeds/, combine annotations, write data/peace-talks-ar")
    b.add_argument("--root", type=Path, default=PROJECT_ROOT, help="project root holding seeds/ and data/")
    b.add_argument("--output", type=Path, default=None, help="dataset folder (default: ROOT/data/peace-talks-ar)")
    v = sub.add_parser("validate", help="check a dataset folder against its checksums and schema")
    v.add_argument("folder", type=Path, nargs="?", default=PROJECT_ROOT / "data" / "peace-talks-ar")
    pub = sub.add_parser("publish", help="push the dataset folder and its card to the Hugging Face hub")
    pub.add_argument("--repo-id", required=True, help="ORG/NAME of the hub dataset repo")
    pub.add_argument("--folder", type=Path, default=PROJECT_ROOT / "data" / "peace-talks-ar")
    pub.add_argument("--private", action="store_true")
    s = sub.add_parser("segments", help="print the segments of the seed articles as JSON lines")
    s.add_argument("--seeds", type=Path, default=PROJECT_ROOT / "seeds")
    return p


def _cmd_data(argv: list[str]) -> int:
    import json

    args = _data_parser().parse_args(argv)
    if args.action == "build":
        from stancebench.dataset import ProjectPaths, build

        paths = ProjectPaths.under(args.root)
        if args.output is not None:
            paths = ProjectPaths(paths.seeds, paths.annotations, paths.adjudication, args.output)
        summary = build(paths)
        agreement = summary["agreement"]
        print(
            f"wrote {summary['output']}: {summary['sentences']} labelled sentences, "
            f"{summary['segments']} segments ({summary['boilerplate']} boilerplate); "
            + "; ".join(
                f"{dim} kappa={a['cohen_kappa']} alpha={a['krippendorff_alpha']}" for dim, a in agreement.items()
            )
        )
    elif args.action == "validate":
        from stancebench.dataset import validate

        result = validate(args.folder)
        print(f"{result['folder']}: OK, {result['sentences']} sentences, labels {json.dumps(result['labels'])}")
    elif args.action == "publish":
        from stancebench.dataset import publish

        print(publish(args.folder, args.repo_id, private=args.private))
    elif args.action == "segments":
        from stancebench.corpus import segment_corpus

        for seg in segment_corpus(args.seeds):
            print(json.dumps(seg.to_dict(), ensure_ascii=False))
    return 0


def _cmd_label(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="stancebench label", description="Label sentences in the terminal.")
    p.add_argument("--annotator", required=True, help="your name; answers go to ANNOTATIONS/NAME.jsonl")
    p.add_argument("--seeds", type=Path, default=PROJECT_ROOT / "seeds")
    p.add_argument("--annotations", type=Path, default=PROJECT_ROOT / "data" / "annotations")
    args = p.parse_args(argv)
    from stancebench.label import run_labelling, terminal_key_reader

    run_labelling(args.annotator, args.seeds, args.annotations, terminal_key_reader(), sys.stdout)
    return 0


def _cmd_train(argv: list[str]) -> int:
    from stancebench.train import hydra_entry

    sys.argv = ["stancebench-train", *argv]
    hydra_entry()
    return 0


def _cmd_ui(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="stancebench ui", description="Start the MLflow UI on the project's store.")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--tracking-uri", default=None, help="store to show (default: MLFLOW_TRACKING_URI or the project's)")
    args = p.parse_args(argv)
    from stancebench.tracking import serve_ui

    return serve_ui(args.host, args.port, args.tracking_uri)


HANDLERS = {"train": _cmd_train, "data": _cmd_data, "label": _cmd_label, "ui": _cmd_ui}


def _usage() -> str:
    lines = ["usage: stancebench <command> [args]", "", "commands:"]
    lines += [f"  {name:<8} {text}" for name, text in COMMANDS.items()]
    lines += ["", "Run `stancebench <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0 if argv else 2
    if argv[0] in {"-V", "--version"}:
        from stancebench import __version__

        print(f"stancebench {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in HANDLERS:
        import difflib

        close = difflib.get_close_matches(command, HANDLERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"stancebench: unknown command {command!r}{hint}; run `stancebench --help`", file=sys.stderr)
        return 2
    try:
        return HANDLERS[command](rest)
    except UserError as exc:
        if os.environ.get("STANCEBENCH_DEBUG"):
            raise
        print(f"stancebench {command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"stancebench {command}: interrupted", file=sys.stderr)
        return 130
