"""The items one experiment trains and scores on, read as its spec says: the training data, its
evaluation items (test split, folds or other data), and the further evaluation sets."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stancebench.errors import UserError
from stancebench.paths import PROJECT_ROOT


@dataclass
class PreparedSet:
    """A further evaluation set, loaded: its spec, its items and the digest of its data."""

    spec: Any  # EvalSetSpec
    items: Any  # Items
    digest: str


@dataclass
class PreparedData:
    """What ``train`` fits and scores: training items, evaluation items and the resolved protocol."""

    spec: Any  # DataSpec of the training data
    eval_spec: Any  # DataSpec of the evaluation data (the same, but for cross_dataset)
    train: Any  # Items
    eval: Any  # Items, or None for the fold protocols
    protocol: str
    splits: Any  # the folds of kfold and loo
    digest: str
    eval_digest: str
    eval_sets: list[PreparedSet] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # sets left out, and why


def items_of(dataset, task: str, name: str):
    """The rows of ``dataset`` that carry a ``task`` label, as :class:`~stancebench.experiment.protocols.Items`."""
    from stancebench.experiment.protocols import Items

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


def cap(items, limit: int | None, seed: int):
    """At most ``limit`` items, a deterministic sample given ``seed``, in their original order."""
    if limit is None or len(items) <= limit:
        return items
    import numpy as np

    index = np.sort(np.random.default_rng(seed).permutation(len(items))[:limit])
    return items.subset(index)


def _join_project_source(data_spec, name: str) -> str | None:
    """Join source ``name``'s text kept upstream into the project's own dataset folder from its local
    copy; None when done, else why it could not be."""
    from stancebench.corpus.dataset import DATASET_NAME, ProjectPaths, join_upstream

    project = ProjectPaths.under(PROJECT_ROOT)
    if Path(data_spec.source).resolve() != Path(project.output).resolve():
        return f"{data_spec.source} is not the project's own {DATASET_NAME} folder"
    try:
        path = join_upstream(project, name)
    except UserError as exc:
        return str(exc)
    print(f"note: joined {name}'s text from its local copy into {path}", file=sys.stderr)
    return None


def _prepare_eval_sets(spec) -> tuple[list[PreparedSet], list[str]]:
    """The further evaluation sets that can be read, and a note per optional set left out."""
    from datasets import concatenate_datasets

    from stancebench.data.loader import load_data, source_digest

    sets, notes = [], []
    for es in spec.eval_sets:
        why_not = None
        if es.join_source:  # rows of a source whose text is joined locally: join it if missing
            if not (Path(es.data.source) / "data" / f"{es.join_source}.jsonl").is_file():
                why_not = _join_project_source(es.data, es.join_source)
        try:
            loaded = load_data(es.data)
        except UserError as exc:
            if not es.optional:
                raise
            notes.append(f"eval set {es.key!r} left out: {exc}")
            continue
        except FileNotFoundError as exc:  # the datasets library: a config whose files are not built
            if not es.optional:
                raise UserError(f"data.eval_sets.{es.key}: {exc}") from None
            notes.append(f"eval set {es.key!r} ({es.data.name}) left out: its files are not in {es.data.source}"
                         f"{' (' + why_not + ')' if why_not else ''}; build them with "
                         "`python -m stancebench data build`")
            continue
        if es.split is not None and es.split not in loaded:
            raise UserError(f"data.eval_sets.{es.key}.split={es.split!r}: the set has splits {', '.join(loaded)}")
        dataset = loaded[es.split] if es.split else concatenate_datasets([loaded[s] for s in loaded])
        items = cap(items_of(dataset, spec.task.name, es.data.name), spec.max_eval_samples, 0)
        sets.append(PreparedSet(es, items, source_digest(es.data)))
    return sets, notes


def prepare_data(spec) -> PreparedData:
    """Load the spec's data; return training and evaluation items and the resolved protocol.

    Bad protocol settings and one-class folds fail here, before the MLflow run starts.
    """
    from datasets import concatenate_datasets

    from stancebench.data.loader import load_data, source_digest
    from stancebench.experiment.protocols import choose_protocol, fold_splits

    task, ev = spec.task.name, spec.evaluation
    loaded = load_data(spec.data)
    train_split = "train" if "train" in loaded else next(iter(loaded))
    # Cap first: the protocol is chosen for the items actually trained on.
    train_items = cap(items_of(loaded[train_split], task, spec.data.name), spec.max_train_samples, spec.seed)
    classes = sorted(set(train_items.labels))
    if len(classes) < 2:
        raise UserError(
            f"the training data of dataset {spec.data.name!r} has one class only ({task} {classes[0]!r}); "
            "a classifier needs two or more"
        )
    test_split = next((s for s in ("test", "validation") if s in loaded), None)
    protocol = choose_protocol(ev.protocol, test_split is not None, len(train_items), ev.loo_max_items)
    splits = fold_splits(protocol, train_items, spec.seed, ev.k) if protocol in ("kfold", "loo") else None
    eval_items, eval_spec = None, spec.data
    if protocol == "holdout":
        eval_items = items_of(loaded[test_split], task, spec.data.name)
    elif protocol == "cross_dataset":  # the spec made sure there is target data
        eval_spec = ev.target_data
        other = load_data(eval_spec)
        # The target data's test split when it has one (peace-talks-ar: the real sentences, not the
        # written training split), else every row.
        target = other["test"] if "test" in other else concatenate_datasets([other[s] for s in other])
        eval_items = items_of(target, task, eval_spec.name)
    if eval_items is not None:
        # A fixed sample, whatever the seed: runs of different seeds are then scored on the same items.
        eval_items = cap(eval_items, spec.max_eval_samples, 0)
    extra, notes = _prepare_eval_sets(spec)
    for items, name in ((train_items, spec.data.name), (eval_items, eval_spec.name),
                        *((s.items, s.spec.data.name) for s in extra)):
        unknown = sorted(set(items.labels if items is not None else []) - set(spec.task.labels))
        if unknown:
            raise UserError(f"dataset {name!r} has {task} labels {unknown} outside task.labels "
                            f"{list(spec.task.labels)}")
    return PreparedData(spec=spec.data, eval_spec=eval_spec, train=train_items, eval=eval_items, protocol=protocol,
                        splits=splits, digest=source_digest(spec.data), eval_digest=source_digest(eval_spec),
                        eval_sets=extra, notes=notes)
