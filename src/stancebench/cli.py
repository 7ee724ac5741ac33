"""Command-line entry point: ``python -m stancebench <command>`` and the ``stancebench`` script.

Only the standard library is imported here, so ``--help`` answers at once; each command imports what
it needs when it runs.  ``train`` is a Hydra application: its arguments are handed to Hydra untouched,
so overrides, ``--cfg job`` and ``-m`` work as in any Hydra app; the other commands use argparse.
User errors (``UserError``) print one line and exit 2; ``STANCEBENCH_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import gc
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
    "report": "leaderboards, significance tests, plots and errors from the tracked runs",
    "predict": "label new sentences with a logged model (runs:/, models:/ or a folder) as JSON lines",
}


def _data_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stancebench data", description="The labelled dataset peace-talks-ar.")
    sub = p.add_subparsers(dest="action", required=True)
    b = sub.add_parser("build", help="segment seeds/, combine annotations, write data/peace-talks-ar")
    b.add_argument("--root", type=Path, default=PROJECT_ROOT, help="project root holding seeds/ and data/")
    b.add_argument("--output", type=Path, default=None, help="dataset folder (default: ROOT/data/peace-talks-ar)")
    b.add_argument("--source", action="append", default=[], metavar="NAME=PATH",
                   help="read source NAME's text kept upstream from PATH (a file, or the folder holding it)")
    b.add_argument("--skip-source", action="append", default=[], metavar="NAME",
                   help="build without source NAME's text (its labels still count on the card)")
    b.add_argument("--offline", action="store_true", help="never download a source's text")
    v = sub.add_parser("validate", help="check a dataset folder against its checksums and schema")
    v.add_argument("folder", type=Path, nargs="?", default=PROJECT_ROOT / "data" / "peace-talks-ar")
    pub = sub.add_parser("publish", help="push the dataset folder and its card to the Hugging Face hub")
    pub.add_argument("--repo-id", required=True, help="ORG/NAME of the hub dataset repo")
    pub.add_argument("--folder", type=Path, default=PROJECT_ROOT / "data" / "peace-talks-ar")
    pub.add_argument("--private", action="store_true")
    s = sub.add_parser("segments", help="print the segments of the seed articles (or of a source) as JSON lines")
    s.add_argument("--seeds", type=Path, default=PROJECT_ROOT / "seeds")
    s.add_argument("--source", default=None, metavar="NAME",
                   help="a source under data/sources whose text is kept upstream (e.g. fignews-2024): its "
                        "segments with the keys and offsets its label files use")
    s.add_argument("--path", type=Path, default=None, help="with --source: read its text from PATH")
    return p


def _cmd_data(argv: list[str]) -> int:
    import json

    args = _data_parser().parse_args(argv)
    if args.action == "build":
        from dataclasses import replace

        from stancebench.corpus.dataset import BuildOptions, ProjectPaths, build

        paths = ProjectPaths.under(args.root)
        if args.output is not None:
            paths = replace(paths, output=args.output)
        overrides = {}
        for item in args.source:
            name, sep, path = item.partition("=")
            if not sep or not name or not path:
                raise UserError(f"--source {item!r} must look like NAME=PATH, e.g. fignews-2024=/data/fignews.tsv")
            overrides[name] = Path(path)
        options = BuildOptions(source_paths=overrides, skip_sources=frozenset(args.skip_source),
                               allow_download=not args.offline)
        summary = build(paths, options)
        agreement = summary["agreement"]
        print(
            f"wrote {summary['output']}: {summary['sentences']} labelled seed sentences, "
            f"{summary['segments']} segments ({summary['boilerplate']} boilerplate); "
            + "; ".join(
                f"{dim} kappa={a['cohen_kappa']} alpha={a['krippendorff_alpha']}" for dim, a in agreement.items()
            )
        )
        for name, info in summary["sources"].items():
            if name != "seed":
                built = "" if info["built"] else " (labels only: text skipped)"
                print(f"  {name}: {info['rows']} labelled sentences, split {info['split']}{built}")
    elif args.action == "validate":
        from stancebench.corpus.dataset import validate

        result = validate(args.folder)
        print(f"{result['folder']}: OK, {result['sentences']} sentences, labels {json.dumps(result['labels'])}")
    elif args.action == "publish":
        from stancebench.corpus.dataset import publish

        print(publish(args.folder, args.repo_id, private=args.private))
    elif args.action == "segments":
        if args.source is None:
            from stancebench.corpus.articles import segment_corpus

            for seg in segment_corpus(args.seeds):
                print(json.dumps(seg.to_dict(), ensure_ascii=False))
            return 0
        from stancebench.corpus import sources as src

        found = {s.name: s for s in src.read_sources(PROJECT_ROOT / "data" / "sources")}
        source = found.get(args.source)
        if source is None or source.kind != "posts":
            posts = ", ".join(n for n, s in sorted(found.items()) if s.kind == "posts") or "none"
            raise UserError(f"--source {args.source!r} is not a source with text kept upstream; sources: {posts}")
        docs, keys = src.read_documents_with_keys(source, src.locate_text(source, args.path))
        for seg in src.segment_documents(docs):
            record = seg.to_dict()
            record["doc"] = keys[seg.article_id]
            print(json.dumps(record, ensure_ascii=False))
    return 0


def _cmd_label(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="stancebench label", description="Label sentences in the terminal.")
    p.add_argument("--annotator", required=True, help="your name; answers go to ANNOTATIONS/NAME.jsonl")
    p.add_argument("--seeds", type=Path, default=PROJECT_ROOT / "seeds")
    p.add_argument("--annotations", type=Path, default=PROJECT_ROOT / "data" / "annotations")
    args = p.parse_args(argv)
    from stancebench.corpus.label import run_labelling, terminal_key_reader

    run_labelling(args.annotator, args.seeds, args.annotations, terminal_key_reader(), sys.stdout)
    return 0


def _cmd_train(argv: list[str]) -> int:
    from stancebench.experiment.train import hydra_entry

    sys.argv = ["stancebench-train", *argv]
    hydra_entry()
    return 0


def _cmd_ui(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="stancebench ui", description="Start the MLflow UI on the project's store.")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--tracking-uri", default=None, help="store to show (default: MLFLOW_TRACKING_URI or the project's)")
    p.add_argument("--experiment", default=None, help="experiment whose runs the printed link opens (default: the "
                   "project's, stancebench)")
    p.add_argument("--open", action="store_true", help="open the link in a browser once the UI answers")
    args = p.parse_args(argv)
    from stancebench.tracking.ui import serve_ui

    return serve_ui(args.host, args.port, args.tracking_uri, args.experiment, args.open)


def _cmd_report(argv: list[str]) -> int:
    from stancebench.tasks import TASKS

    p = argparse.ArgumentParser(
        prog="stancebench report",
        description="Compare the finished training runs of an MLflow experiment: a leaderboard per dataset and "
        "task, paired significance tests (best TF-IDF vs the best of each other family), plots and error "
        "analysis; written as Markdown + HTML + JSON and logged to MLflow.")
    p.add_argument("--experiment", default="stancebench", help="MLflow experiment to read (default: stancebench)")
    p.add_argument("--dataset", action="append", default=[], help="only runs trained or evaluated on it (repeatable)")
    p.add_argument("--task", action="append", default=[], choices=list(TASKS), help="only this task")
    p.add_argument("--model", action="append", default=[], help="only this model config, e.g. tfidf_svm (repeatable)")
    p.add_argument("--exclude-run", action="append", default=[], metavar="RUN_ID", help="leave this run out")
    p.add_argument("--name", default=None, help="report name (default: the experiment's)")
    p.add_argument("--output-dir", type=Path, default=None, help="folder (default: experiments/NAME)")
    p.add_argument("--tracking-uri", default=None, help="store (default: MLFLOW_TRACKING_URI or the project's)")
    p.add_argument("--alias", default=None, help="set this registry alias (e.g. champion) on each task's best model")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument("--max-errors", type=int, default=40, help="error-analysis rows per group (default 40)")
    p.add_argument("--no-log", action="store_true", help="do not log the report to MLflow")
    args = p.parse_args(argv)
    from stancebench.report import run_report

    result = run_report(experiment=args.experiment, tracking_uri=args.tracking_uri, name=args.name,
                        output_dir=args.output_dir, datasets=args.dataset, tasks=args.task, models=args.model,
                        exclude=args.exclude_run, alias=args.alias, resamples=args.resamples,
                        confidence=args.confidence, seed=args.seed, max_errors=args.max_errors, log=not args.no_log)
    for group in result["groups"]:
        main = group.main_score
        best = group.contenders()[0]
        line = f"{group.title}: best {best.model} {main}={best.mean(main):.3f} ({len(group.rows)} rows)"
        for comparison in group.comparisons:
            line += f"; {comparison['a']} vs {comparison['b']} p={comparison['paired_bootstrap']['p_value']:.3g}"
        print(line)
    for task, chosen in result["aliases"].items():
        print(f"alias {chosen['alias']}: {chosen['name']} version {chosen['version']} ({chosen['model']}, run "
              f"{chosen['run_id']})")
    print(f"wrote {result['folder']}/report.html and report.md"
          + (f"; logged as run {result['report_run_id']}" if result.get("report_run_id") else ""))
    return 0


def _cmd_predict(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="stancebench predict",
        description="Label sentences with a logged model, through the model's own preprocessing.\nOne JSON "
        "object per sentence (id, text, label, class probabilities or scores) to stdout or --output.",
        epilog="examples:\n"
        "  stancebench predict --model models:/stancebench-stance@champion 'قال الكرملين إن بوتين مستعد للقاء ترامب'\n"
        "  stancebench predict --model runs:/RUN_ID/model --input news.csv --text-column sentence -o out.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sentences", nargs="*", help="sentences to label (or use --input)")
    p.add_argument("--model", required=True, metavar="URI",
                   help="runs:/<run id>/model, models:/<name>/<version>, models:/<name>@<alias>, or a model folder")
    p.add_argument("-i", "--input", type=Path, default=None, metavar="FILE",
                   help="a text file (one sentence per line), .csv/.tsv, or .jsonl; - reads standard input")
    p.add_argument("--format", default="auto", choices=["auto", "txt", "csv", "tsv", "jsonl"],
                   help="input format (default: from the file's extension, else txt)")
    p.add_argument("--text-column", default="text", help="text column of CSV/JSONL input (default: text)")
    p.add_argument("--target-column", default="target", help="stance-target column, if any (default: target)")
    p.add_argument("--id-column", default="id", help="id column, if any (default: id; else the 0-based position)")
    p.add_argument("--target", default=None, help="stance target of sentences without one (target-aware models)")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="FILE",
                   help="JSON-lines file, written to a temporary file then renamed (default: stdout)")
    p.add_argument("--batch-size", type=int, default=512,
                   help="sentences per model call (default 512; a transformer sorts them by length and runs its "
                   "own forward batches: larger calls pad less)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal and there is more than one batch)")
    p.add_argument("--tracking-uri", default=None, help="store (default: MLFLOW_TRACKING_URI or the project's)")
    args = p.parse_args(argv)
    from stancebench.serve.predict import run_predict

    try:
        count = run_predict(args.model, args.sentences, args.input, output=args.output, fmt=args.format,
                            text_column=args.text_column, target_column=args.target_column,
                            id_column=args.id_column, target=args.target, batch_size=args.batch_size,
                            progress=args.progress, tracking_uri=args.tracking_uri)
    except BrokenPipeError:  # `predict ... | head`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if args.output is not None:
        print(f"wrote {count} predictions to {args.output}", file=sys.stderr)
    return 0


HANDLERS = {"train": _cmd_train, "data": _cmd_data, "label": _cmd_label, "ui": _cmd_ui, "report": _cmd_report,
            "predict": _cmd_predict}


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


def entry() -> None:
    """``python -m stancebench`` and the ``stancebench`` script: :func:`main`, then exit with its code.

    Before the interpreter shuts down, every object left is frozen out of the cyclic garbage
    collector (``gc.freeze``): its final sweeps over a training run's ~500,000 objects took ~1.1 s
    of a 25 s TF-IDF run (benchmarks/README.md), only to free memory the process gives back anyway.
    Refcounted objects are still released and ``atexit`` handlers still run.
    """
    try:
        code = main()
    finally:
        gc.freeze()
    if code == 130:
        # Interrupted, and the run already ended KILLED: a second SIGINT from here on (Ctrl-C
        # pressed twice, or a library re-raising the first one) must not turn this exit into a
        # death by signal once the interpreter has reset its handler.
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)
