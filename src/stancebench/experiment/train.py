"""``python -m stancebench train``: one Hydra-configured experiment, tracked in MLflow.

Config flows one way: Hydra composes ``conf/train.yaml``; :func:`train` turns it into an
:class:`~stancebench.experiment.spec.ExperimentSpec` once, and :func:`run_experiment` and the library
code below read that spec, never the config or global state.  Tests call :func:`train` directly.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from stancebench.errors import UserError
from stancebench.paths import PROJECT_ROOT

CONF_DIR = PROJECT_ROOT / "conf"


def _output_dir(spec) -> Path:
    if spec.output_dir is not None:
        return spec.output_dir
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


def _run_tags(spec, data, sweep_tags: dict[str, str]) -> dict[str, Any]:
    from stancebench.tracking.redaction import git_state

    commit, dirty = git_state()
    tags = {
        "task": spec.task.name, "model_family": spec.model.family, "model": spec.model.name,
        "dataset": data.spec.name, "dataset_digest": data.digest,
        "eval_dataset": data.eval_spec.name, "eval_dataset_digest": data.eval_digest,
        "protocol": data.protocol, "git_commit": commit, "git_dirty": dirty, "seed": spec.seed,
        "world_size": os.environ.get("WORLD_SIZE", "1"),
        **sweep_tags,
    }
    if data.eval_sets:
        tags["eval_sets"] = ",".join(s.spec.key for s in data.eval_sets)
        for s in data.eval_sets:
            key = s.spec.key
            tags[f"eval_set.{key}.dataset"] = s.spec.data.name
            tags[f"eval_set.{key}.digest"] = s.digest
            tags[f"eval_set.{key}.source"] = s.spec.data.source
            tags[f"eval_set.{key}.text_upstream"] = str(s.spec.text_upstream).lower()
    return tags


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run the experiment a composed ``conf/train.yaml`` describes; returns run id, metrics and the output folder."""
    from stancebench.experiment.spec import ExperimentSpec

    return run_experiment(ExperimentSpec.from_config(cfg))


def run_experiment(spec) -> dict[str, Any]:
    """Run ``spec`` end to end: data, fit (protocol), scores, files, MLflow run and model."""
    import pandas as pd

    from stancebench import background
    from stancebench.experiment.data import prepare_data
    from stancebench.experiment.protocols import predict_items, run_protocol
    from stancebench.experiment.results import (
        compute_metrics,
        load_metric,
        write_outputs,
        write_predictions,
    )
    from stancebench.report import plots
    from stancebench.tracking import runs
    from stancebench.tracking.redaction import flatten
    from stancebench.tracking.store import check_reachable

    task, ev = spec.task, spec.evaluation
    check_reachable(spec.store)
    data = prepare_data(spec)
    out_dir = _output_dir(spec)
    sweep_tags, overrides = _hydra_tags()
    tags = _run_tags(spec, data, sweep_tags)
    for note in data.notes:
        print(f"note: {note}", file=sys.stderr)
    run_name = spec.run_name or f"{spec.model.name}-{data.spec.name}-{task.name}-s{spec.seed}"

    curves: dict[int, dict[str, float]] = {}

    def final_factory():
        model = spec.model.build()
        if hasattr(model, "epoch_callback"):
            model.epoch_callback = lambda epoch, values: curves.setdefault(epoch, {}).update(values)
        return model

    local_dir = out_dir / "run"
    log_model = spec.log_model and runs.is_primary_process()
    labels = list(task.labels)
    # A TF-IDF fit runs in a forked process (fit_in_subprocess): the MLflow set-up below, which
    # needs no fit result, then takes no time of its own on a machine with a second core.
    fit = background.start(run_protocol, data.protocol, spec.model.build, data.train, data.eval, labels, spec.seed,
                           ev.k, final_factory=final_factory, splits=data.splits,
                           fork=spec.fit_in_fork, what=f"{spec.model.name} fit",
                           hint="fit_in_subprocess=false fits in this process")
    with fit, runs.tracked_run(spec.store, run_name, tags, local_dir) as run:
        run.log_params({**flatten(spec.config), "protocol": data.protocol, "n_train": len(data.train)})
        run.log_dataset(pd.DataFrame({"id": data.train.ids, "text": data.train.texts, task.name: data.train.labels}),
                        data.spec.name, data.spec.source, data.digest, task.name, "training")
        # What the steps after the fit import, imported now (while a forked fit runs).
        metric = load_metric()
        plots.pyplot()
        if log_model:
            spec.model.cls.prepare_logging()
        preds, model = fit.result()
        run.set_tags(model.run_tags())

        def scores_of(predictions):
            return compute_metrics(predictions, task, ev.bootstrap_resamples, ev.confidence, spec.seed, metric)

        metrics = scores_of(preds)
        set_preds = {}
        for s in data.eval_sets:  # further evaluation sets: the logged model's predictions, own prefix
            set_preds[s.spec.key] = predict_items(model, s.items, labels)
            metrics.update({f"{s.spec.key}/{name}": value for name, value in scores_of(set_preds[s.spec.key]).items()})
        for key in ("train_samples_per_second", "train_runtime"):  # Trainer's own throughput, if any
            if key in getattr(model, "train_metrics_", {}):
                metrics[key] = float(model.train_metrics_[key])
        title = f"{spec.model.name} on {data.eval_spec.name} ({task.name}, {data.protocol})"
        example = model.input_example(preds.items.texts[:3], preds.items.targets[:3]) if log_model else None
        if runs.is_primary_process():  # every rank computed the same predictions; rank 0 writes
            # Locally first, then to MLflow: if the tracking server goes away from here on, the
            # results are in local_dir and tracked_run saves the model beside them.
            write_outputs(local_dir, spec.config, overrides, preds, metrics, task, title)
            for key, set_pred in set_preds.items():
                write_predictions(local_dir / f"predictions-{key}.jsonl", set_pred)
            run.keep_locally(model if log_model else None, example)
        run.log_metrics(metrics)
        for epoch, values in sorted(curves.items()):  # per-epoch curves, one batch per epoch
            run.log_metrics(values, step=epoch)
        run.log_artifacts(local_dir)
        model_uri = None
        if log_model:
            registered = f"stancebench-{task.name}" if spec.register else None
            model_uri = run.log_model(model, example, registered).model_uri
    return {"run_id": run.run_id, "metrics": metrics, "output_dir": str(out_dir), "model_uri": model_uri,
            "protocol": data.protocol, "eval_sets": [s.spec.key for s in data.eval_sets],
            "main_score": task.main_score}


class PrepareTrackingStore(Callback):
    """Create the tracking store and experiment once in the launching process, before jobs start.

    Parallel jobs (joblib launcher) on a brand-new SQLite store otherwise race while creating its
    tables.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from stancebench.tracking.store import StoreSettings, prepare_store

        try:
            prepare_store(StoreSettings.from_config(config.tracking))
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
    metrics, main = result["metrics"], result["main_score"]
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
