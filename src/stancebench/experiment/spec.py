"""One experiment as plain, checked objects: the Hydra config is turned into an :class:`ExperimentSpec`
once, at the start of ``train``; everything after reads the spec, never the config.

Every check a user's config can fail is made here (or in the objects it builds: ``StoreSettings``,
``TaskSpec``), so a bad value is one error line before any data is read or any run starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stancebench.errors import UserError
from stancebench.paths import resolve_source
from stancebench.tasks import TaskSpec, get_task

EVAL_SET_KEYS = ("name", "source", "config_name", "format", "splits", "split", "columns", "label_map", "target",
                 "revision", "optional", "text_upstream", "join_source")
# The fields of a further evaluation set that replace the training data's own.
_DATA_FIELDS = ("source", "config_name", "format", "splits", "columns", "label_map", "target", "revision")


@dataclass(frozen=True)
class ModelSpec:
    """The model to fit: its config name, its family class and the settings Hydra instantiates it with."""

    name: str
    params: dict[str, Any]  # with ``_target_``: the family class
    cls: type

    @property
    def family(self) -> str:
        return self.cls.family

    def build(self):
        """A fresh, unfitted classifier."""
        from hydra.utils import instantiate

        return instantiate(self.params, _convert_="all")


@dataclass(frozen=True)
class EvalSpec:
    """How the model is scored: the protocol and its settings, and the bootstrap intervals."""

    protocol: str
    k: int
    loo_max_items: int
    bootstrap_resamples: int
    confidence: float
    target_data: Any = None  # DataSpec of eval=cross_dataset's other data


@dataclass(frozen=True)
class EvalSetSpec:
    """A further evaluation set (``data.eval_sets.<key>``), scored by the same model in the same run."""

    key: str
    data: Any  # DataSpec
    split: str | None = None
    optional: bool = False
    text_upstream: bool = False  # its text may not be redistributed: reports show ids only
    join_source: str | None = None  # a project source whose text is joined from its local copy on first use


@dataclass(frozen=True)
class ExperimentSpec:
    """Everything one ``train`` run needs, checked."""

    task: TaskSpec
    data: Any  # DataSpec
    eval_sets: tuple[EvalSetSpec, ...]
    model: ModelSpec
    evaluation: EvalSpec
    store: Any  # stancebench.tracking.store.StoreSettings
    log_model: bool
    seed: int
    max_train_samples: int | None
    max_eval_samples: int | None
    register: bool
    run_name: str | None
    output_dir: Path | None
    fit_in_fork: bool
    #: The resolved config, as logged (params, ``config.yaml``); with the task's labels and main score filled in.
    config: dict[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_config(cls, cfg) -> "ExperimentSpec":
        """Check and convert a composed ``conf/train.yaml`` (an OmegaConf ``DictConfig``)."""
        from omegaconf import OmegaConf

        from stancebench.tracking.store import StoreSettings

        config = OmegaConf.to_container(cfg, resolve=True)
        task_cfg = config.get("task") or {}
        task = get_task(task_cfg.get("name")).with_labels(task_cfg.get("labels"), task_cfg.get("main_score"))
        config["task"] = {**task_cfg, "labels": list(task.labels), "main_score": task.main_score}
        model = _model_spec(config.get("model") or {})
        data = data_spec(config["data"])
        ev = config.get("eval") or {}
        target_data = data_spec(ev["target_data"]) if ev.get("target_data") else None
        if ev.get("protocol") == "cross_dataset" and target_data is None:
            raise UserError("eval=cross_dataset needs eval.target_data (e.g. data@eval.target_data=peace_talks_ar)")
        evaluation = EvalSpec(
            protocol=str(ev.get("protocol", "auto")), k=ev.get("k", 5), loo_max_items=int(ev.get("loo_max_items", 100)),
            bootstrap_resamples=_whole(ev.get("bootstrap_resamples", 1000), "eval.bootstrap_resamples", minimum=1),
            confidence=_fraction(ev.get("confidence", 0.95), "eval.confidence"), target_data=target_data)
        tracking = config.get("tracking") or {}
        return cls(
            task=task, data=data, eval_sets=_eval_sets(config["data"], data), model=model, evaluation=evaluation,
            store=StoreSettings.from_config(tracking), log_model=bool(tracking.get("log_model", True)),
            seed=_whole(config.get("seed", 0), "seed"),
            max_train_samples=_cap(config.get("max_train_samples"), "max_train_samples"),
            max_eval_samples=_cap(config.get("max_eval_samples"), "max_eval_samples"),
            register=bool(config.get("register", False)), run_name=config.get("run_name") or None,
            output_dir=Path(config["output_dir"]).expanduser().resolve() if config.get("output_dir") else None,
            fit_in_fork=_fork_fit(config.get("fit_in_subprocess", "auto"), model.cls),
            config=config,
        )


def _model_spec(model: dict) -> ModelSpec:
    from hydra.utils import get_class

    from stancebench.models.base import Classifier

    params = dict(model.get("params") or {})
    target = params.get("_target_")
    try:
        klass = get_class(str(target))
    except Exception:
        klass = None
    if klass is None or not (isinstance(klass, type) and issubclass(klass, Classifier)):
        raise UserError(f"model.params._target_={target!r} is not a stancebench classifier class; pick a model "
                        "with model=<name> (conf/model/) or name a Classifier subclass")
    return ModelSpec(name=str(model.get("name") or klass.family), params=params, cls=klass)


def data_spec(plain: dict):
    """A :class:`~stancebench.data.loader.DataSpec` from a ``data`` config group (plain dict)."""
    from stancebench.data.loader import DataSpec

    plain = dict(plain)
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
    plain["label_map"] = plain.get("label_map") or {}
    if not plain.get("name"):
        plain["name"] = _name_of(plain["source"], splits)
    known = set(DataSpec.__dataclass_fields__)
    unknown = sorted(set(plain) - known)
    if unknown:
        raise UserError(f"data: unknown key(s) {', '.join(unknown)}; a data option takes {', '.join(sorted(known))}")
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


def _eval_sets(data: dict, spec) -> tuple[EvalSetSpec, ...]:
    """``data.eval_sets``: each set inherits the data's source and mappings unless it names its own."""
    from dataclasses import replace

    sets = []
    for key, raw in (data.get("eval_sets") or {}).items():
        raw = raw or {}
        unknown = sorted(set(raw) - set(EVAL_SET_KEYS))
        if unknown or not str(key).replace("-", "").replace("_", "").isalnum():
            raise UserError(f"data.eval_sets.{key}: unknown key(s) {', '.join(unknown) or '(bad set name)'}; "
                            f"a set takes {', '.join(EVAL_SET_KEYS)} and a name of letters, digits, - and _")
        fields = {k: raw[k] for k in _DATA_FIELDS if raw.get(k) is not None}
        if "source" in fields:
            fields["source"] = resolve_source(str(fields["source"]))
        set_spec = replace(spec, name=raw.get("name") or raw.get("config_name") or str(key), **fields)
        sets.append(EvalSetSpec(key=str(key), data=set_spec, split=raw.get("split"),
                                optional=bool(raw.get("optional", False)),
                                text_upstream=bool(raw.get("text_upstream", False)),
                                join_source=raw.get("join_source")))
    return tuple(sets)


def _whole(value, what: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{what}={value!r} must be a whole number of at least {minimum}")
    return value


def _fraction(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise UserError(f"{what}={value!r} must be a number between 0 and 1, e.g. {what}=0.95")
    return float(value)


def _cap(limit, what: str) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise UserError(f"{what}={limit!r} must be a whole number of items, or null for all of them")
    if limit <= 0:
        raise UserError(f"{what}={limit} leaves no items; use a positive number or null")
    return limit


def _fork_fit(setting: Any, model_class) -> bool:
    """Whether to fit in a forked process: ``fit_in_subprocess`` (auto/true/false) for this model family.

    Only families whose fit can (``fit_in_fork``: CPU-bound, picklable, no per-epoch callbacks: TF-IDF)
    and only where fork is dependable (Linux).  ``auto`` forks when this process may use two or more
    CPUs: on one, fitting beside the MLflow set-up gains nothing and costs the round trip (~1.5 s on
    the ArSarcasm-v2 run).
    """
    if not (isinstance(setting, bool) or setting == "auto"):
        raise UserError(f"fit_in_subprocess={setting!r} must be auto, true or false")
    from stancebench import background

    if not model_class.fit_in_fork or setting is False or not background.fork_available():
        return False
    return setting is True or background.usable_cpus() >= 2
