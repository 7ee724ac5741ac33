"""``python -m stancebench train``: one Hydra-configured experiment, tracked in MLflow.

Config flows one way: Hydra composes ``conf/train.yaml``; :func:`train` turns it into plain objects
(a :class:`~stancebench.loader.DataSpec`, :class:`~stancebench.protocols.Items`, a model factory)
and the library code below never reads global state.  Tests call :func:`train` directly.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from stancebench.errors import UserError
from stancebench.paths import PROJECT_ROOT, resolve_source

CONF_DIR = PROJECT_ROOT / "conf"


def data_spec(data_cfg: DictConfig):
    from stancebench.loader import DataSpec

    plain = OmegaConf.to_container(data_cfg, resolve=True)
    plain.pop("eval_sets", None)
    # Splits left empty (data=csv lists train and test as null, so that data.splits.train=PATH needs no "+").
    splits = {k: str(v) for k, v in (plain.get("splits") or {}).items() if v not in (None, "")}
    if plain.get("source") in (None, "???"):
        if not splits:
            raise UserError(f"data.source is not set for data={plain.get('name') or 'csv'}; add data.source=PATH "
                            "(a file, folder or hub id), or a pair data.splits.train=PATH data.splits.test=PATH")
        # Files named on their own: each resolved like a source, the folder holding them as the source.
        splits = {k: resolve_source(v) for k, v in splits.items()}
        plain["source"] = os.path.commonpath([str(Path(p).parent) for p in splits.values()])
    else:
        plain["source"] = resolve_source(str(plain["source"]))
    plain["splits"] = splits
    plain["columns"] = plain.get("columns") or {}
    if not plain.get("name"):
        plain["name"] = _name_of(plain["source"], splits)
    return DataSpec(**plain)


def _name_of(source: str, splits: dict[str, str]) -> str:
    """A dataset's name from where it comes from (the runs' ``dataset`` tag and MLflow dataset name):
    a file's stem, a folder's name (for a pair of split files, the train file's stem unless it is just
    "train"), a hub id as given."""
    path = Path(source)
    if splits and "train" in splits:
        stem = Path(splits["train"]).stem
        if stem.lower() not in {"train", "training", "training_data", "train_data"}:
            return stem
    if path.is_file():
        return path.stem
    if path.is_dir():
        return path.resolve().name
    return source


def _items(dataset, task: str, name: str):
    from stancebench.protocols import Items

    if not len(dataset):
        raise UserError(f"dataset {name!r} is empty (no rows with text); check data.source and data.columns.text")
    if task not in dataset.column_names or all(v is None for v in dataset[task]):
        raise UserError(
            f"dataset {name!r} has no {task} labels; pick task=<one it has> or map the column with "
            f"data.columns.{task}=<column>"
        )
    rows = [r for r in dataset.to_list() if r[task] is not None]
    return Items([r["id"] for r in rows], [r["text"] for r in rows], [r["target"] for r in rows],
                 [r[task] for r in rows])


EVAL_SET_KEYS = ("name", "source", "config_name", "format", "splits", "split", "columns", "label_map", "target",
                 "revision", "optional", "text_upstream", "join_source")


def _join_project_source(spec, name: str) -> str | None:
    """Join source ``name``'s text kept upstream into the project's own dataset folder (``spec.source``)
    from its local copy; None when done, else why it could not be."""
    from stancebench.dataset import DATASET_NAME, ProjectPaths, join_upstream

    project = ProjectPaths.under(PROJECT_ROOT)
    if Path(spec.source).resolve() != Path(project.output).resolve():
        return f"{spec.source} is not the project's own {DATASET_NAME} folder"
    try:
        path = join_upstream(project, name)
    except UserError as exc:
        return str(exc)
    print(f"note: joined {name}'s text from its local copy into {path}", file=sys.stderr)
    return None


def _eval_sets(cfg: DictConfig, spec, task: str) -> tuple[list[dict], list[str]]:
    """The further evaluation sets of ``data.eval_sets`` that can be read, and a note per set left out.

    Each set inherits the data's source and mappings unless it names its own; ``optional: true`` sets
    whose files are missing (text kept upstream, not built yet) are left out with a note.
    """
    from dataclasses import replace

    from stancebench.loader import load_data, source_digest

    sets, notes = [], []
    for key, raw in (OmegaConf.to_container(cfg.data, resolve=True).get("eval_sets") or {}).items():
        raw = raw or {}
        unknown = sorted(set(raw) - set(EVAL_SET_KEYS))
        if unknown or not str(key).replace("-", "").replace("_", "").isalnum():
            raise UserError(f"data.eval_sets.{key}: unknown key(s) {', '.join(unknown) or '(bad set name)'}; "
                            f"a set takes {', '.join(EVAL_SET_KEYS)} and a name of letters, digits, - and _")
        fields = {k: raw[k] for k in ("source", "config_name", "format", "splits", "columns", "label_map", "target",
                                      "revision") if raw.get(k) is not None}
        if "source" in fields:
            fields["source"] = resolve_source(str(fields["source"]))
        set_spec = replace(spec, name=raw.get("name") or raw.get("config_name") or str(key), **fields)
        why_not = None
        if raw.get("join_source"):  # rows of a source whose text is joined locally: join it if missing
            if not (Path(set_spec.source) / "data" / f"{raw['join_source']}.jsonl").is_file():
                why_not = _join_project_source(set_spec, str(raw["join_source"]))
        try:
            loaded = load_data(set_spec)
        except UserError as exc:
            if not raw.get("optional"):
                raise
            notes.append(f"eval set {key!r} left out: {exc}")
            continue
        except FileNotFoundError as exc:  # the datasets library: a config whose files are not built
            if not raw.get("optional"):
                raise UserError(f"data.eval_sets.{key}: {exc}") from None
            notes.append(f"eval set {key!r} ({set_spec.name}) left out: its files are not in {set_spec.source}"
                         f"{' (' + why_not + ')' if why_not else ''}; build them with "
                         "`python -m stancebench data build`")
            continue
        split = raw.get("split")
        if split is not None and split not in loaded:
            raise UserError(f"data.eval_sets.{key}.split={split!r}: the set has splits {', '.join(loaded)}")
        from datasets import concatenate_datasets

        dataset = loaded[split] if split else concatenate_datasets([loaded[s] for s in loaded])
        items = _items(dataset, task, set_spec.name)
        items = _cap(items, cfg.get("max_eval_samples"), 0, "max_eval_samples")
        sets.append({"key": str(key), "spec": set_spec, "items": items, "digest": source_digest(set_spec),
                     "text_upstream": bool(raw.get("text_upstream", False))})
    return sets, notes


def _cap(items, limit: int | None, seed: int, what: str):
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise UserError(f"{what}={limit!r} must be a whole number of items, or null for all of them")
    if limit is None or len(items) <= limit:
        return items
    import numpy as np

    if limit <= 0:
        raise UserError(f"{what}={limit} leaves no items; use a positive number or null")
    index = np.sort(np.random.default_rng(seed).permutation(len(items))[:limit])
    return items.subset(index)


def prepare_data(cfg: DictConfig) -> dict[str, Any]:
    """Load the configured data and return training/evaluation items and the resolved protocol."""
    from stancebench.loader import load_data, source_digest
    from stancebench.protocols import choose_protocol, fold_splits

    task = cfg.task.name
    spec = data_spec(cfg.data)
    loaded = load_data(spec)
    train_split = "train" if "train" in loaded else next(iter(loaded))
    train_items = _items(loaded[train_split], task, spec.name)
    # Cap first: the protocol is chosen for the items actually trained on.
    train_items = _cap(train_items, cfg.get("max_train_samples"), cfg.seed, "max_train_samples")
    classes = sorted(set(train_items.labels))
    if len(classes) < 2:
        raise UserError(
            f"the training data of dataset {spec.name!r} has one class only ({task} {classes[0]!r}); "
            "a classifier needs two or more"
        )
    test_split = next((s for s in ("test", "validation") if s in loaded), None)
    protocol = choose_protocol(cfg.eval.protocol, test_split is not None, len(train_items), cfg.eval.loo_max_items)
    # Bad eval.k and one-class folds fail here, before the MLflow run starts.
    splits = fold_splits(protocol, train_items, cfg.seed, cfg.eval.k) if protocol in ("kfold", "loo") else None
    eval_items, eval_spec = None, spec
    if protocol == "holdout":
        eval_items = _items(loaded[test_split], task, spec.name)
    elif protocol == "cross_dataset":
        if "target_data" not in cfg.eval:
            raise UserError("eval=cross_dataset needs eval.target_data (e.g. data@eval.target_data=peace_talks_ar)")
        eval_spec = data_spec(cfg.eval.target_data)
        other = load_data(eval_spec)
        from datasets import concatenate_datasets

        # The target data's test split when it has one (peace-talks-ar: the real sentences, not the
        # written training split), else every row.
        target = other["test"] if "test" in other else concatenate_datasets([other[s] for s in other])
        eval_items = _items(target, task, eval_spec.name)
    if eval_items is not None:
        # A fixed sample, whatever the seed: runs of different seeds are then scored on the same items.
        eval_items = _cap(eval_items, cfg.get("max_eval_samples"), 0, "max_eval_samples")
    extra, notes = _eval_sets(cfg, spec, task)
    for items, name in ((train_items, spec.name), (eval_items, eval_spec.name),
                        *((s["items"], s["spec"].name) for s in extra)):
        unknown = sorted(set(items.labels if items is not None else []) - set(cfg.task.labels))
        if unknown:
            raise UserError(f"dataset {name!r} has {task} labels {unknown} outside task.labels {list(cfg.task.labels)}")
    return {
        "spec": spec, "eval_spec": eval_spec, "train": train_items, "eval": eval_items, "protocol": protocol,
        "splits": splits,
        "digest": source_digest(spec), "eval_digest": source_digest(eval_spec),
        "eval_sets": extra, "notes": notes,
    }


def _output_dir(cfg: DictConfig) -> Path:
    if cfg.get("output_dir"):
        return Path(cfg.output_dir).expanduser().resolve()
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(tempfile.mkdtemp(prefix="stancebench-run-"))


def _hydra_tags() -> tuple[dict[str, str], list[str]]:
    """Sweep grouping tags and the command-line overrides, when running under Hydra."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return {}, []
    hc = HydraConfig.get()
    tags = {}
    if hc.mode == RunMode.MULTIRUN:
        tags = {"sweep": str(Path(hc.sweep.dir).resolve()), "sweep_job": str(hc.job.num)}
    return tags, list(hc.overrides.task)


def _write_outputs(folder: Path, cfg: DictConfig, overrides: list[str], preds, metrics: dict, task: str, title: str):
    """The run's files, written locally first: they survive a tracking server that goes away."""
    from sklearn.metrics import classification_report

    from stancebench.plots import confusion_matrix_png
    from stancebench.tracking import redact, redact_override

    folder.mkdir(parents=True, exist_ok=True)
    # What a config read from the environment (${oc.env:...}) must not carry into the run's files.
    config = redact(OmegaConf.to_container(cfg, resolve=True))
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)), encoding="utf-8")
    shown = [redact_override(o) for o in overrides]
    (folder / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(shown)), encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    gold = preds.items.labels
    report = classification_report(gold, preds.predicted, labels=list(cfg.task.labels), zero_division=0, digits=4)
    (folder / "classification_report.txt").write_text(report, encoding="utf-8")
    confusion_matrix_png(gold, preds.predicted, list(cfg.task.labels), folder / "confusion_matrix.png", title)
    write_predictions(folder / "predictions.jsonl", preds)


def write_predictions(path: Path, preds) -> None:
    """One JSON line per evaluation item: id, text, target, gold, predicted, fold and class scores."""
    gold = preds.items.labels
    with open(path, "w", encoding="utf-8") as f:
        for i, sid in enumerate(preds.items.ids):
            f.write(json.dumps({
                "id": sid, "text": preds.items.texts[i], "target": preds.items.targets[i],
                "gold": gold[i], "predicted": preds.predicted[i], "fold": preds.folds[i],
                "scores": {lab: (None if s == float("-inf") else round(float(s), 6))
                           for lab, s in zip(preds.score_labels, preds.scores[i])},
            }, ensure_ascii=False) + "\n")


def load_metric():
    """The project's `evaluate` metric module, loaded by path (the hub's scripts are out of reach)."""
    from stancebench.lazy import import_without_torch
    from stancebench.metrics import metric_path

    evaluate = import_without_torch("evaluate")
    return evaluate.load(str(metric_path("stance_sentiment_scores")))


def compute_metrics(preds, task: str, labels: list[str], main_score: str, resamples: int, confidence: float,
                    seed: int, metric=None) -> dict[str, float]:
    """Scores through the `evaluate` metric module (``metric``: one :func:`load_metric` gave already),
    plus bootstrap bounds for macro-F1 and the main score."""
    from stancebench.scoring import bootstrap_interval

    metric = metric or load_metric()
    scores = metric.compute(predictions=preds.predicted, references=preds.items.labels, labels=labels, task=task)
    for name in dict.fromkeys(["macro_f1", main_score]):
        low, high = bootstrap_interval(preds.items.labels, preds.predicted, labels, task, name, resamples,
                                       confidence, seed)
        scores[f"{name}_ci_low"], scores[f"{name}_ci_high"] = low, high
    scores["n_eval"] = len(preds.items)
    return scores


def _fork_fit(setting: Any, family: str) -> bool:
    """Whether to fit in a forked process: ``fit_in_subprocess`` (auto/true/false) for this model family.

    Only TF-IDF fits (CPU-bound, picklable, no per-epoch callbacks) and only where fork is dependable
    (Linux).  ``auto`` forks when this process may use two or more CPUs: on one, fitting beside the
    MLflow set-up gains nothing and costs the round trip (~1.5 s on the ArSarcasm-v2 run).
    """
    if not (isinstance(setting, bool) or setting == "auto"):
        raise UserError(f"fit_in_subprocess={setting!r} must be auto, true or false")
    from stancebench import background

    if family != "tfidf" or setting is False or not background.fork_available():
        return False
    return setting is True or background.usable_cpus() >= 2


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run the configured experiment end to end; returns run id, metrics and the output folder."""
    from hydra.utils import instantiate

    from stancebench import background, plots, tracking
    from stancebench.protocols import run_protocol

    task, labels = cfg.task.name, list(cfg.task.labels)
    fork_fit = _fork_fit(cfg.get("fit_in_subprocess", "auto"), cfg.model.family)
    settings = tracking.StoreSettings.from_config(cfg.tracking)
    tracking.check_reachable(settings)
    data = prepare_data(cfg)
    out_dir = _output_dir(cfg)
    sweep_tags, overrides = _hydra_tags()
    commit, dirty = tracking.git_state()
    tags = {
        "task": task, "model_family": cfg.model.family, "model": cfg.model.name,
        "dataset": data["spec"].name, "dataset_digest": data["digest"],
        "eval_dataset": data["eval_spec"].name, "eval_dataset_digest": data["eval_digest"],
        "protocol": data["protocol"], "git_commit": commit, "git_dirty": dirty, "seed": cfg.seed,
        "world_size": os.environ.get("WORLD_SIZE", "1"),
        **sweep_tags,
    }
    for note in data["notes"]:
        print(f"note: {note}", file=sys.stderr)
    if data["eval_sets"]:
        tags["eval_sets"] = ",".join(s["key"] for s in data["eval_sets"])
        for s in data["eval_sets"]:
            tags[f"eval_set.{s['key']}.dataset"] = s["spec"].name
            tags[f"eval_set.{s['key']}.digest"] = s["digest"]
            tags[f"eval_set.{s['key']}.source"] = s["spec"].source
            tags[f"eval_set.{s['key']}.text_upstream"] = str(s["text_upstream"]).lower()
    run_name = cfg.get("run_name") or f"{cfg.model.name}-{data['spec'].name}-{task}-s{cfg.seed}"

    curves: dict[int, dict[str, float]] = {}

    def factory():
        return instantiate(cfg.model.params, _convert_="all")

    def final_factory():
        model = factory()
        if hasattr(model, "epoch_callback"):
            model.epoch_callback = lambda epoch, values: curves.setdefault(epoch, {}).update(values)
        return model

    local_dir = out_dir / "run"
    log_model = cfg.tracking.get("log_model", True) and tracking.is_primary_process()
    train_items = data["train"]
    # A TF-IDF fit runs in a forked process (fit_in_subprocess): the MLflow set-up below, which
    # needs no fit result, then takes no time of its own on a machine with a second core.
    fit = background.start(run_protocol, data["protocol"], factory, train_items, data["eval"], labels, cfg.seed,
                           cfg.eval.k, final_factory=final_factory, splits=data["splits"],
                           fork=fork_fit, what=f"{cfg.model.name} fit",
                           hint="fit_in_subprocess=false fits in this process")
    with fit, tracking.tracked_run(settings, run_name, tags, local_dir) as run:
        run.log_params({**tracking.flatten(OmegaConf.to_container(cfg, resolve=True)),
                        "protocol": data["protocol"], "n_train": len(data["train"])})
        import pandas as pd

        run.log_dataset(pd.DataFrame({"id": train_items.ids, "text": train_items.texts, task: train_items.labels}),
                        data["spec"].name, data["spec"].source, data["digest"], task, "training")
        # What the steps after the fit import, imported now (while a forked fit runs).
        metric = load_metric()
        plots.pyplot()
        if log_model:
            tracking.import_flavour(cfg.model.family)
        preds, model = fit.result()
        metrics = compute_metrics(preds, task, labels, cfg.task.main_score, cfg.eval.bootstrap_resamples,
                                  cfg.eval.confidence, cfg.seed, metric)
        from stancebench.protocols import predict_items

        set_preds = {}
        for s in data["eval_sets"]:  # further evaluation sets: the logged model's predictions, own prefix
            set_preds[s["key"]] = predict_items(model, s["items"], labels)
            scores = compute_metrics(set_preds[s["key"]], task, labels, cfg.task.main_score,
                                     cfg.eval.bootstrap_resamples, cfg.eval.confidence, cfg.seed, metric)
            metrics.update({f"{s['key']}/{name}": value for name, value in scores.items()})
        for key in ("train_samples_per_second", "train_runtime"):  # Trainer's own throughput, if any
            if key in getattr(model, "train_metrics_", {}):
                metrics[key] = float(model.train_metrics_[key])
        title = f"{cfg.model.name} on {data['eval_spec'].name} ({task}, {data['protocol']})"
        example = model.input_example(preds.items.texts[:3], preds.items.targets[:3]) if log_model else None
        if tracking.is_primary_process():  # every rank computed the same predictions; rank 0 writes
            # Locally first, then to MLflow: if the tracking server goes away from here on, the
            # results are in local_dir and tracked_run saves the model beside them.
            _write_outputs(local_dir, cfg, overrides, preds, metrics, task, title)
            for key, set_pred in set_preds.items():
                write_predictions(local_dir / f"predictions-{key}.jsonl", set_pred)
            run.keep_locally(model if log_model else None, example)
        run.log_metrics(metrics)
        for epoch, values in sorted(curves.items()):  # per-epoch curves, one batch per epoch
            run.log_metrics(values, step=epoch)
        run.log_artifacts(local_dir)
        model_uri = None
        if log_model:
            registered = f"stancebench-{task}" if cfg.get("register") else None
            model_uri = run.log_model(model, example, registered).model_uri
    return {"run_id": run.run_id, "metrics": metrics, "output_dir": str(out_dir), "model_uri": model_uri,
            "protocol": data["protocol"], "eval_sets": [s["key"] for s in data["eval_sets"]]}


class PrepareTrackingStore(Callback):
    """Create the tracking store and experiment once in the launching process, before jobs start.

    Parallel jobs (joblib launcher) on a brand-new SQLite store otherwise race while creating its
    tables.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from stancebench import tracking

        try:
            tracking.prepare_store(tracking.StoreSettings.from_config(config.tracking))
        except UserError as exc:
            _exit_with(exc)


def _exit_with(exc: UserError) -> None:
    if os.environ.get("STANCEBENCH_DEBUG"):
        raise exc
    print(f"stancebench train: error: {exc}", file=sys.stderr)
    sys.exit(2)


def _main(cfg: DictConfig) -> None:
    try:
        result = train(cfg)
    except UserError as exc:
        _exit_with(exc)
        return
    if result["run_id"] is None:  # a non-zero rank of a distributed job: rank 0 reports
        return
    metrics = result["metrics"]
    main = cfg.task.main_score
    print(
        f"run {result['run_id']}: {main}={metrics[main]:.4f} macro_f1={metrics['macro_f1']:.4f} "
        f"[{metrics['macro_f1_ci_low']:.3f}, {metrics['macro_f1_ci_high']:.3f}] "
        f"accuracy={metrics['accuracy']:.4f} on {metrics['n_eval']} items ({result['protocol']})"
    )
    for key in result.get("eval_sets", []):
        print(
            f"  {key}: {main}={metrics[f'{key}/{main}']:.4f} macro_f1={metrics[f'{key}/macro_f1']:.4f} "
            f"[{metrics[f'{key}/macro_f1_ci_low']:.3f}, {metrics[f'{key}/macro_f1_ci_high']:.3f}] "
            f"accuracy={metrics[f'{key}/accuracy']:.4f} on {metrics[f'{key}/n_eval']} items"
        )


def hydra_entry() -> None:
    import hydra

    hydra.main(config_path=str(CONF_DIR), config_name="train", version_base="1.3")(_main)()
