"""Security basics: no secret in what a run logs, no code executed when models load, no pickles.

The UI's default bind address (127.0.0.1) is checked by ``test_ui.py::test_ui_binds_to_localhost_only``
against the listening socket; the transformers flavour's safetensors weights (and no
``pytorch_model.bin``) by ``test_transformer.py::test_logged_transformer_predicts_label_strings_from_raw_arabic``.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from training_helpers import REPO, client, sentences, train_cfg

SECRETS = {
    "HF_TOKEN": "hf_FAKEtoken0123456789abcdefXYZ",
    "MLFLOW_TRACKING_PASSWORD": "FAKE-tracking-pass-98765",
    "MY_API_KEY": "FAKE-api-key-5550123-qwerty",
}


@pytest.fixture(scope="module")
def secret_env():
    """Fake secrets in the environment, as on a machine logged in to the hub and a tracking server."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in SECRETS.items():
            mp.setenv(key, value)
        yield SECRETS


def everything_logged(store: Path, run_id: str) -> dict[str, bytes]:
    """Params, tags, run name, dataset inputs and every artifact file of a run (the model's included)."""
    c = client(store)
    run = c.get_run(run_id)
    found = {
        "params": json.dumps(run.data.params).encode(),
        "tags": json.dumps(run.data.tags).encode(),
        "run_name": run.info.run_name.encode(),
        "inputs": json.dumps([[i.dataset.name, i.dataset.source, i.dataset.schema, i.dataset.profile]
                              for i in run.inputs.dataset_inputs]).encode(),
    }
    local = Path(c.download_artifacts(run_id, "", str(store / f"all-{run_id}")))
    folders = [("run", local)]
    for output in run.outputs.model_outputs:
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
        folders.append(("model", Path(mlflow.artifacts.download_artifacts(
            f"models:/{output.model_id}", dst_path=str(store / f"model-{output.model_id}")))))
    for kind, folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                found[f"{kind}:{path.relative_to(folder)}"] = path.read_bytes()
    assert any(name.startswith("model:") for name in found), "no model was logged"
    return found


def leaks(found: dict[str, bytes]) -> list[str]:
    return [f"{where} holds ${key}" for where, data in found.items() for key, value in SECRETS.items()
            if value.encode() in data]


def pickles_in(folder: Path) -> list[str]:
    """Files that unpickle on load: pickle streams, torch .bin/.pt files, zip archives holding a .pkl."""
    found = []
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        head = path.read_bytes()[:2]
        if path.suffix in {".pkl", ".pickle", ".joblib", ".bin", ".pt", ".pth"} or head[:1] == b"\x80":
            found.append(str(path.relative_to(folder)))
        elif zipfile.is_zipfile(path) and any(n.endswith(".pkl") for n in zipfile.ZipFile(path).namelist()):
            found.append(str(path.relative_to(folder)))
    return found


# ----------------------------------------------------------------- TF-IDF


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """One SQLite store for this module's runs (creating a store's tables costs seconds)."""
    return tmp_path_factory.mktemp("secret-store")


@pytest.fixture(scope="module")
def tfidf_run(store, secret_env):
    from stancebench.experiment.train import train

    return store, train(train_cfg(store, "data=peace_talks_seed", "~data.eval_sets.fignews", "eval=kfold", "eval.k=3",
                                  out="tfidf"))


def test_tfidf_run_logs_no_secret_from_the_environment(tfidf_run):
    store, result = tfidf_run
    found = everything_logged(store, result["run_id"])
    assert "run:config.yaml" in found and "run:predictions.jsonl" in found
    assert leaks(found) == []


def test_sklearn_model_is_saved_with_skops_not_pickle(tfidf_run, tmp_path):
    import mlflow

    store, result = tfidf_run
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    local = Path(mlflow.artifacts.download_artifacts(result["model_uri"], dst_path=str(tmp_path)))
    flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"  # a model from code, no pickled object
    (pipeline,) = local.rglob("pipeline.skops")
    assert zipfile.is_zipfile(pipeline)
    assert pickles_in(local) == []
    # It loads back with only the project's own types trusted, and predicts.
    model = mlflow.pyfunc.load_model(result["model_uri"])
    assert len(model.predict([sentences()[0]["text"]])) == 1


def test_secrets_a_config_reads_from_the_environment_are_redacted_everywhere(store, secret_env):
    """A local config (conf/local/default.yaml) may read credentials from the environment; the run
    must record none of them: not in params, not in config.yaml, not inside a longer value (a URL)."""
    from stancebench.experiment.train import train

    result = train(train_cfg(
        store, "data=peace_talks_seed", "~data.eval_sets.fignews", "eval=kfold", "eval.k=2",
        "run_name=config-reads-env",
        "+site.hub_token=${oc.env:HF_TOKEN}",
        "+site.tracking_password=${oc.env:MLFLOW_TRACKING_PASSWORD}",
        "+site.mirror=https://me:${oc.env:MY_API_KEY}@mirror.example.org/datasets",
        out="config-reads-env",
    ))
    found = everything_logged(store, result["run_id"])
    assert yaml.safe_load(found["run:config.yaml"])["site"]["mirror"].endswith("@mirror.example.org/datasets")
    assert "\n".join(leaks(found)) == ""


# ----------------------------------------------------------------- transformers


@pytest.mark.slow  # ~20 s: torch, three tiny fine-tunings and the transformers flavour
def test_transformer_run_logs_no_secret_and_no_pickle(store, tmp_path, tiny_bert, secret_env):
    from stancebench.experiment.train import train

    result = train(train_cfg(store, "model=arabert", f"model.params.model_name_or_path={tiny_bert}",
                             "model.params.preprocessing=none", "model.params.epochs=1", "data=peace_talks_seed",
                             "~data.eval_sets.fignews", "eval=kfold", "eval.k=2", out="transformer"))
    found = everything_logged(store, result["run_id"])
    assert any(name.endswith(".safetensors") for name in found)
    assert leaks(found) == []
    model_dir = tmp_path / "model-check"
    for name, data in found.items():
        if name.startswith("model:"):
            (model_dir / name[len("model:"):]).parent.mkdir(parents=True, exist_ok=True)
            (model_dir / name[len("model:"):]).write_bytes(data)
    assert pickles_in(model_dir) == []


TRAP = """
import pathlib
pathlib.Path({marker!r}).write_text("code from the model folder ran")
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

class TrapConfig(BertConfig):
    pass

class TrapModel(BertForSequenceClassification):
    config_class = TrapConfig

class TrapTokenizer(PreTrainedTokenizerFast):
    pass
"""


def test_model_folder_code_is_never_executed(tmp_path, tiny_bert, monkeypatch):
    """A model folder whose config asks for its own Python code (``auto_map``), as a hub repo can:
    fitting from it and predicting must load the standard classes without running that code."""
    import transformers.dynamic_module_utils as dynamic

    from stancebench.models.transformer import TransformerClassifier

    trap = Path(shutil.copytree(tiny_bert, tmp_path / "trap"))
    marker = tmp_path / "remote-code-ran"
    (trap / "trap.py").write_text(TRAP.format(marker=str(marker)), encoding="utf-8")
    for name, auto_map in (("config.json", {"AutoConfig": "trap.TrapConfig",
                                            "AutoModelForSequenceClassification": "trap.TrapModel"}),
                           ("tokenizer_config.json", {"AutoTokenizer": [None, "trap.TrapTokenizer"]})):
        config = json.loads((trap / name).read_text())
        (trap / name).write_text(json.dumps({**config, "auto_map": auto_map}))

    texts = [s["text"] for s in sentences()[:6]]
    model = TransformerClassifier(model_name_or_path=str(trap), epochs=1, batch_size=8)
    model.fit(texts, ["favor", "none"] * 3)
    model.predict(texts[:2])
    assert not marker.exists(), "the model folder's own code was executed"
    # Standard classes, so the logged model loads in MLflow without remote code too.
    assert type(model.model_).__module__.startswith("transformers.models.")
    assert type(model.tokenizer_).__module__.startswith("transformers.")

    # The trap is armed: loading with trust_remote_code=True does run the folder's code.
    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "hf-modules"))
    from transformers import AutoConfig

    AutoConfig.from_pretrained(str(trap), trust_remote_code=True)
    assert marker.exists()


def test_no_code_path_trusts_remote_code():
    """No call in the package passes trust_remote_code (its default, False, is the only setting)."""
    offenders = [f"{path.relative_to(REPO)}:{n}" for path in sorted((REPO / "src").rglob("*.py"))
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                 if re.search(r"trust_remote_code\s*=\s*(?!False\b)", line)]
    assert offenders == []


def test_credentials_in_the_git_remote_url_never_reach_the_run_tags(tmp_path):
    """A checkout cloned with a token in its remote URL: the run's mlflow.source.git.repoURL tag is the
    URL without the credentials (MLflow >= 3.17 strips them itself; this guards the versions we allow)."""
    import os
    import subprocess
    import sys

    token = "ghp_FAKEtoken0123456789abcdefXYZ"
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--shared", str(REPO), str(clone)], check=True)
    # The clone reads the same ../shared (FIGNEWS, ArSarcasm) as the repository it came from.
    (tmp_path / "shared").symlink_to(REPO.parent / "shared")
    url = f"https://builder:{token}@github.example.org/team/stancebench.git"
    subprocess.run(["git", "remote", "set-url", "origin", url], cwd=clone, check=True)
    env = {**os.environ, "PYTHONPATH": f"{clone / 'src'}{os.pathsep}{REPO / 'tests'}", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("STANCEBENCH_DEBUG", None)
    store = tmp_path / "store"
    # A script inside the checkout calling train(): MLflow reads the git context from the main file.
    script = clone / "run_train.py"
    script.write_text(
        "import sys\n"
        "from training_helpers import train_cfg\n"
        "from stancebench.experiment.train import train\n"
        "from pathlib import Path\n"
        "train(train_cfg(Path(sys.argv[1]), 'data=peace_talks_seed', '~data.eval_sets.fignews', resamples=20))\n",
        encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script), str(store)], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = client(store).search_runs([client(store).get_experiment_by_name("stancebench").experiment_id])
    tags = run.data.tags
    assert tags.get("mlflow.source.git.repoURL") == "https://github.example.org/team/stancebench.git", tags
    assert token not in json.dumps(tags) and "builder" not in json.dumps(tags)
