"""Hydra configuration: every group option and experiment composes, the CLI's --help/--cfg, Hydra's errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hydra.utils import get_class
from omegaconf import OmegaConf

from stancebench.experiment.protocols import PROTOCOLS
from stancebench.experiment.spec import ExperimentSpec
from stancebench.models.base import Classifier

from training_helpers import (
    CONF_DIR,
    REPO,
    SENTIMENT_LABELS,
    STANCE_LABELS,
    compose_cfg,
    run_cli,
)


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def test_groups_hold_the_issue_options():
    assert {"peace_talks_ar", "arsarcasm_v2", "csv"} <= set(options("data"))
    assert {"stance", "sentiment"} <= set(options("task"))
    assert {"tfidf_logreg", "tfidf_svm"} <= set(options("model"))
    assert {"auto", "holdout", "kfold", "loo", "cross_dataset"} <= set(options("eval"))
    assert {"local", "server"} <= set(options("tracking"))
    assert "smoke" in options("debug")
    assert len(options("experiment")) >= 4


def test_default_config_is_a_stance_run_on_the_project_dataset():
    cfg = compose_cfg()
    assert cfg.data.name == "peace-talks-ar"
    assert cfg.data.source == "data/peace-talks-ar"
    assert cfg.task.name == "stance"
    spec = ExperimentSpec.from_config(cfg)
    assert list(spec.task.labels) == STANCE_LABELS and spec.task.main_score == "f_avg"
    assert spec.config["task"]["labels"] == STANCE_LABELS  # logged as params, as the report reads them
    assert cfg.model.name == "tfidf_logreg" and get_class(cfg.model.params._target_).family == "tfidf"
    assert cfg.model.params.classifier == "logreg"
    assert cfg.eval.protocol == "auto"
    assert cfg.eval.bootstrap_resamples >= 1000 and cfg.eval.confidence == 0.95
    assert cfg.tracking.uri is None and cfg.tracking.experiment == "stancebench"
    assert cfg.seed == 0 and cfg.max_train_samples is None and cfg.output_dir is None
    # Everything resolves (no missing value, no broken interpolation) in the default.
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


EXPECTED_DATA = {
    "peace_talks_ar": {"name": "peace-talks-ar", "target": "peace talks"},
    "arsarcasm_v2": {"name": "arsarcasm-v2", "source": "../shared/datasets/arsarcasm-v2", "format": "csv"},
    "csv": {"name": None, "source": "???"},
}


@pytest.mark.parametrize("option", options("data"))
def test_every_data_option_composes(option):
    cfg = compose_cfg([f"data={option}"])
    assert cfg.data.name or option == "csv"  # csv: named after its file at run time
    for key, value in EXPECTED_DATA.get(option, {}).items():
        if value == "???":
            assert OmegaConf.is_missing(cfg.data, key)
        else:
            assert cfg.data[key] == value
    if option == "arsarcasm_v2":
        assert dict(cfg.data.splits) == {"train": "ArSarcasm-v2/training_data.csv",
                                         "test": "ArSarcasm-v2/testing_data.csv"}
        assert cfg.data.columns.text == "tweet"
        assert dict(cfg.data.label_map.sentiment) == {"POS": "positive", "NEG": "negative", "NEU": "neutral"}
        # ../shared resolves against the repository root, where the shared datasets live.
        assert (REPO / cfg.data.source / cfg.data.splits.train).is_file()


@pytest.mark.parametrize("option", options("task"))
def test_every_task_option_composes(option):
    cfg = compose_cfg([f"task={option}"])
    assert cfg.task.name == option
    task = ExperimentSpec.from_config(cfg).task
    expected = {"stance": (STANCE_LABELS, "f_avg"), "sentiment": (SENTIMENT_LABELS, "f1_pn")}
    if option in expected:
        labels, main = expected[option]
        assert list(task.labels) == labels and task.main_score == main
    assert task.citation and task.main_score_definition


@pytest.mark.parametrize("overrides, fragment", [
    (["task.labels=[favor,maybe]"], "must be two or more distinct labels of task stance"),
    (["task.labels=[favor]"], "must be two or more distinct labels"),
    (["task.labels=[favor,none]"], "task.main_score='f_avg' is not one of macro_f1, accuracy"),
    (["task.main_score=f1_pn"], "task.main_score='f1_pn' is not one of macro_f1, accuracy, f_avg"),
    (["task.name=stanse"], "did you mean task=stance?"),
    (["eval.confidence=95"], "eval.confidence=95 must be a number between 0 and 1"),
    (["eval.bootstrap_resamples=0"], "eval.bootstrap_resamples=0 must be a whole number of at least 1"),
    (["seed=-1"], "seed=-1 must be a whole number of at least 0"),
    (["model.params._target_=os.path.join"], "is not a stancebench classifier class"),
])
def test_a_bad_experiment_setting_is_one_user_error_naming_it(overrides, fragment):
    from stancebench.errors import UserError

    with pytest.raises(UserError, match=re.escape(fragment)):
        ExperimentSpec.from_config(compose_cfg(overrides))


def test_the_spec_is_plain_objects_library_code_can_take():
    spec = ExperimentSpec.from_config(compose_cfg(["model=tfidf_svm", "task=sentiment", "max_train_samples=50"]))
    assert spec.model.family == "tfidf" and spec.model.name == "tfidf_svm"
    assert spec.task.name == "sentiment" and spec.max_train_samples == 50
    assert [s.key for s in spec.eval_sets] == ["fignews"] and spec.eval_sets[0].text_upstream
    assert spec.data.name == "peace-talks-ar" and Path(spec.data.source).is_dir()
    assert type(spec.model.build()).__name__ == "TfidfClassifier"


@pytest.mark.parametrize("option", options("model"))
def test_every_model_option_composes_to_a_classifier(option):
    cfg = compose_cfg([f"model={option}"])
    assert cfg.model.name == option
    assert "family" not in cfg.model  # defined once, by the class
    assert issubclass(get_class(cfg.model.params._target_), Classifier)
    if option.startswith("tfidf_"):
        assert get_class(cfg.model.params._target_).family == "tfidf"
        assert cfg.model.params.classifier == {"tfidf_logreg": "logreg", "tfidf_svm": "svm"}[option]
        assert cfg.model.params.C > 0


@pytest.mark.parametrize("option", options("eval"))
def test_every_eval_option_composes(option):
    cfg = compose_cfg([f"eval={option}"])
    assert cfg.eval.protocol == option
    assert cfg.eval.protocol in PROTOCOLS
    assert cfg.eval.k >= 2 and 0 < cfg.eval.confidence < 1 and cfg.eval.bootstrap_resamples > 0
    if option == "cross_dataset":
        # The evaluation data defaults to the project's dataset and can be swapped like any data option.
        assert cfg.eval.target_data.name == "peace-talks-ar"
        swapped = compose_cfg(["eval=cross_dataset", "data@eval.target_data=arsarcasm_v2"])
        assert swapped.eval.target_data.name == "arsarcasm-v2"
    else:
        assert "target_data" not in cfg.eval


def test_tracking_options():
    local = compose_cfg(["tracking=local"])
    assert local.tracking.uri is None and local.tracking.log_model is True and local.tracking.connect_timeout > 0
    server = compose_cfg(["tracking=server"])
    assert server.tracking.uri == "http://127.0.0.1:5000"
    # server.yaml extends local.yaml: the other keys are still there.
    assert server.tracking.experiment == "stancebench" and server.tracking.connect_timeout == local.tracking.connect_timeout
    moved = compose_cfg(["tracking=server", "tracking.uri=http://mlflow.example:8080"])
    assert moved.tracking.uri == "http://mlflow.example:8080"


def test_debug_smoke_caps_the_run():
    cfg = compose_cfg(["debug=smoke"])
    assert cfg.max_train_samples == 200 and cfg.max_eval_samples == 100
    assert cfg.eval.bootstrap_resamples == 100 and cfg.eval.k == 3
    assert cfg.tracking.experiment == "stancebench-debug"
    # The default groups are kept: debug only shrinks the run.
    assert cfg.data.name == "peace-talks-ar" and cfg.model.name == "tfidf_logreg"


EXPECTED_EXPERIMENTS = {
    "arsarcasm_sentiment": ("arsarcasm-v2", "sentiment", "tfidf_svm", "holdout"),
    "sentiment_transfer": ("arsarcasm-v2", "sentiment", "tfidf_svm", "cross_dataset"),
    "peace_talks_stance": ("peace-talks-ar", "stance", "tfidf_logreg", "auto"),
    "peace_talks_sentiment": ("peace-talks-ar", "sentiment", "tfidf_logreg", "auto"),
}


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes(experiment):
    cfg = compose_cfg([f"experiment={experiment}"])
    OmegaConf.to_container(cfg, resolve=True)
    text = (CONF_DIR / "experiment" / f"{experiment}.yaml").read_text(encoding="utf-8")
    assert text.startswith("# @package _global_") or "\n# @package _global_" in text
    if experiment in EXPECTED_EXPERIMENTS:
        data, task, model, protocol = EXPECTED_EXPERIMENTS[experiment]
        assert (cfg.data.name, cfg.task.name, cfg.model.name, cfg.eval.protocol) == (data, task, model, protocol)
    if experiment == "sentiment_transfer":
        assert cfg.eval.target_data.name == "peace-talks-ar"


def test_experiment_and_overrides_combine():
    cfg = compose_cfg(["experiment=arsarcasm_sentiment", "model=tfidf_logreg", "seed=7", "debug=smoke"])
    assert (cfg.data.name, cfg.task.name, cfg.model.name, cfg.seed) == ("arsarcasm-v2", "sentiment", "tfidf_logreg", 7)
    assert cfg.max_train_samples == 200


def test_value_overrides_reach_nested_keys():
    cfg = compose_cfg(["model.params.C=0.25", "eval=kfold", "eval.k=3", "max_train_samples=10"])
    assert cfg.model.params.C == 0.25 and cfg.eval.k == 3 and cfg.max_train_samples == 10


# --- through the CLI -------------------------------------------------------------------------------


def test_cli_help_lists_the_groups(tmp_path):
    proc = run_cli(tmp_path, "train", "--help", timeout=60)
    assert proc.returncode == 0, proc.stderr
    for line in ("data: arsarcasm_v2, csv, peace_talks_ar", "task: sentiment, stance",
                 "eval: auto, cross_dataset, holdout, kfold, loo"):
        assert line in proc.stdout
    assert "tfidf_logreg" in proc.stdout and "experiment:" in proc.stdout
    assert not (tmp_path / "mlflow.db").exists(), "--help must not touch the tracking store"


def test_cli_cfg_job_prints_the_composed_config(tmp_path):
    proc = run_cli(tmp_path, "train", "experiment=arsarcasm_sentiment", "seed=3", "--cfg", "job", timeout=60)
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["data"]["name"] == "arsarcasm-v2"
    assert cfg["task"]["name"] == "sentiment"
    assert cfg["model"]["name"] == "tfidf_svm"
    assert cfg["eval"]["protocol"] == "holdout"
    assert cfg["seed"] == 3
    assert "hydra" not in cfg
    assert not (tmp_path / "mlflow.db").exists(), "--cfg job must not run anything"


@pytest.mark.parametrize(
    "override, fragments",
    [
        ("model=nope", ["Could not find 'model/nope'", "tfidf_logreg"]),
        ("data=nope", ["Could not find 'data/nope'", "peace_talks_ar"]),
        ("task=nope", ["Could not find 'task/nope'", "stance"]),
        ("seeed=1", ["Could not override 'seeed'", "Key 'seeed' is not in struct"]),
    ],
)
def test_cli_bad_option_or_key_is_hydras_error(tmp_path, override, fragments):
    proc = run_cli(tmp_path, "train", override, timeout=60)
    assert proc.returncode != 0
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "mlflow.db").exists()
