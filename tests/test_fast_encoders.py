"""The encoder families at the CPU's limit: the precision switch, frozen word embeddings, the progress
bar, and the frozen-encoder probe (``model=e5_probe``) with its embedding cache, on the tiny BERT."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest

from stancebench.errors import UserError

from training_helpers import REPO, client, sentences, train_cfg

TEXTS = [s["text"] for s in sentences()]
STANCES = [s["stance"] for s in sentences()]


def tiny_overrides(folder: Path, *extra: str) -> list[str]:
    return ["data=peace_talks_seed", "~data.eval_sets.fignews", "eval=kfold", "eval.k=2", "model=arabert",
            f"model.params.model_name_or_path={folder}", "model.params.preprocessing=none", "model.params.epochs=1",
            "model.params.batch_size=8", *extra]


@pytest.fixture
def no_native_bf16(monkeypatch):
    """A CPU without AMX or AVX-512 BF16, as far as stancebench can tell."""
    from stancebench.models import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    from stancebench.models import probe

    monkeypatch.setenv("STANCEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(probe, "_MEMORY", {})  # nothing remembered from other tests
    return tmp_path / "cache"


# ------------------------------------------------------------------------------------- precision


def test_precision_follows_the_hardware(monkeypatch):
    from stancebench.models import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "amx_bf16"}))
    assert precision.resolve_precision("auto", "cpu") == "bf16"
    assert precision.resolve_precision("fp32", "cpu") == "fp32"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f"}))
    assert precision.resolve_precision("auto", "cpu") == "fp32"  # oneDNN would emulate bf16: slower
    with pytest.raises(UserError, match="model.params.precision='fp16' is not one of auto, fp32, bf16"):
        precision.resolve_precision("fp16", "cpu")


def test_bf16_where_it_is_not_native_is_one_error_before_the_run(tmp_path, tiny_bert, no_native_bf16):
    from stancebench.experiment.train import train

    with pytest.raises(UserError, match=r"model.params.precision=bf16: this CPU \(no amx_bf16 or avx512_bf16 flag\) "
                                        "has no native bf16 .*use model.params.precision=auto"):
        train(train_cfg(tmp_path, *tiny_overrides(tiny_bert, "model.params.precision=bf16")))


def test_auto_falls_back_to_fp32_and_records_the_choice(tmp_path, tiny_bert, no_native_bf16):
    from stancebench.experiment.train import train

    result = train(train_cfg(tmp_path, *tiny_overrides(tiny_bert)))
    assert client(tmp_path).get_run(result["run_id"]).data.tags["precision"] == "fp32"


@pytest.mark.skipif(not __import__("stancebench.models.precision", fromlist=["x"]).native_bf16("cpu"),
                    reason="this CPU has no native bf16")
def test_auto_uses_bf16_where_native_and_bf16_changes_the_arithmetic_only(tmp_path, tiny_bert):
    from stancebench.experiment.train import train
    from stancebench.models.transformer import TransformerClassifier

    result = train(train_cfg(tmp_path, *tiny_overrides(tiny_bert)))
    assert client(tmp_path).get_run(result["run_id"]).data.tags["precision"] == "bf16"
    scores = {}
    for precision in ("bf16", "fp32"):
        model = TransformerClassifier(model_name_or_path=str(tiny_bert), epochs=1, batch_size=8, precision=precision)
        scores[precision] = model.fit(TEXTS, STANCES, seed=0).predict_scores(TEXTS)
    assert not np.array_equal(scores["bf16"], scores["fp32"])  # the switch reaches the matmuls
    np.testing.assert_allclose(scores["bf16"], scores["fp32"], atol=0.02)


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_word_embeddings_stay_as_pretrained(tiny_bert, freeze):
    from transformers import AutoModel

    from stancebench.models.transformer import TransformerClassifier

    pretrained = AutoModel.from_pretrained(tiny_bert).get_input_embeddings().weight.detach().numpy()
    model = TransformerClassifier(model_name_or_path=str(tiny_bert), epochs=2, batch_size=4, learning_rate=1e-3,
                                  freeze_word_embeddings=freeze, group_by_length=True)
    tuned = model.fit(TEXTS, STANCES, seed=0).model_.get_input_embeddings().weight.detach().numpy()
    assert np.array_equal(tuned, pretrained) is freeze


def test_dropout_and_attention_kernel_reach_the_fine_tune_only(tiny_bert):
    from stancebench.models.transformer import TransformerClassifier, training_attention

    assert training_attention("auto", use_cuda=False) == "eager"  # the fused kernel's CPU backward is slow
    assert training_attention("auto", use_cuda=True) == "sdpa"
    model = TransformerClassifier(model_name_or_path=str(tiny_bert), epochs=1, batch_size=8, attention_dropout=0.0,
                                  hidden_dropout=0.05)
    kernels = []
    model.epoch_callback = lambda epoch, values: kernels.append(model.model_.config._attn_implementation)
    model.fit(TEXTS, STANCES, seed=0)
    assert kernels and set(kernels) == {"eager"}  # while training, on this CPU
    config = model.model_.config
    assert (config.attention_probs_dropout_prob, config.hidden_dropout_prob) == (0.0, 0.05)  # checkpoint: 0.1
    assert config._attn_implementation == "sdpa"  # the fitted (and logged) model runs the fused kernel
    kept = TransformerClassifier(model_name_or_path=str(tiny_bert), epochs=1, batch_size=8).fit(TEXTS, STANCES)
    assert (kept.model_.config.attention_probs_dropout_prob, kept.model_.config.hidden_dropout_prob) == (0.1, 0.1)


@pytest.mark.parametrize("params, message", [
    ({"attention": "flash"}, "model.params.attention='flash' is not one of auto, eager, sdpa"),
    ({"attention_dropout": 1.5}, r"model.params.attention_dropout=1.5 is not a probability in \[0, 1\)"),
    ({"hidden_dropout": -0.1}, r"model.params.hidden_dropout=-0.1 is not a probability in \[0, 1\)"),
])
def test_bad_dropout_or_attention_is_one_clear_error(tiny_bert, params, message):
    from stancebench.models.transformer import TransformerClassifier

    with pytest.raises(UserError, match=message):
        TransformerClassifier(model_name_or_path=str(tiny_bert), epochs=1, **params).fit(TEXTS, STANCES)


def test_fine_tuning_leaves_no_checkpoints_behind(tiny_bert, tmp_path, monkeypatch):
    import tempfile

    from stancebench.models.transformer import TransformerClassifier

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the Trainer's work folder goes
    model = TransformerClassifier(model_name_or_path=str(tiny_bert), epochs=2, batch_size=8,
                                  early_stopping_patience=1, validation_fraction=0.25)
    model.fit(TEXTS, STANCES, seed=0)
    assert model.train_metrics_["epoch"] > 0  # it trained, with a validation split and checkpoints
    assert list(tmp_path.iterdir()) == []  # and took them away: ~470 MB each for e5-small


def test_fine_tuning_shows_a_progress_bar_on_a_terminal_only(tmp_path, tiny_bert):
    script = tmp_path / "fit.py"
    script.write_text(
        "import json, sys\n"
        "from stancebench.models.transformer import TransformerClassifier\n"
        "texts, labels = json.load(open(sys.argv[2]))\n"
        "TransformerClassifier(model_name_or_path=sys.argv[1], epochs=2, batch_size=4).fit(texts, labels)\n"
        "print('done', file=sys.stderr)\n", encoding="utf-8")
    data = tmp_path / "data.json"
    data.write_text(json.dumps([TEXTS, STANCES], ensure_ascii=False), encoding="utf-8")
    command = [sys.executable, str(script), str(tiny_bert), str(data)]
    piped = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert piped.returncode == 0, piped.stderr[-2000:]
    assert "epoch" not in piped.stderr and "samples/s" not in piped.stderr  # quiet when not a terminal
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal has a size
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=follower, cwd=REPO)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=300) == 0
    text = seen.decode("utf-8", errors="replace")
    assert "epoch 2/2" in text and "samples/s" in text and "step 8/8" in text, text[-2000:]


# ----------------------------------------------------------------------------------------- probe


def probe(tiny_bert, **params):
    from stancebench.models.probe import EmbeddingProbe

    return EmbeddingProbe(model_name_or_path=str(tiny_bert), prefix="", batch_size=8, **params)


def test_a_second_fit_on_the_same_data_embeds_nothing(tiny_bert, cache_dir, monkeypatch):
    from stancebench.models import probe as probe_module
    from stancebench.models.probe import EmbeddingProbe

    first = probe(tiny_bert).fit(TEXTS, STANCES)
    assert len(list((cache_dir / "embeddings").glob("*.npy"))) == 1
    monkeypatch.setattr(probe_module, "_MEMORY", {})  # a new process: only the disk cache is left
    calls = []
    real = EmbeddingProbe._encode
    monkeypatch.setattr(EmbeddingProbe, "_encode", lambda self, *a: calls.append(len(a[0])) or real(self, *a))
    second = probe(tiny_bert).fit(TEXTS, STANCES)
    np.testing.assert_array_equal(second.predict_scores(TEXTS), first.predict_scores(TEXTS))
    assert calls == []
    probe(tiny_bert, C=10.0).fit(TEXTS, STANCES)  # another head, the same embeddings
    assert calls == []
    probe(tiny_bert, max_length=16).fit(TEXTS, STANCES)  # other embedding settings: another key
    assert calls == [len(TEXTS)]


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "record of another matrix", "no record"])
def test_a_corrupt_or_stale_cache_file_is_rebuilt_never_used(tiny_bert, cache_dir, monkeypatch, damage):
    from stancebench.models import probe as probe_module

    fresh = probe(tiny_bert).fit(TEXTS, STANCES).embed(TEXTS)
    (matrix,) = (cache_dir / "embeddings").glob("*.npy")
    record = matrix.with_suffix(".json")
    data = matrix.read_bytes()
    if damage == "truncated":
        matrix.write_bytes(data[: len(data) // 2])
    elif damage == "flipped byte":
        matrix.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    elif damage == "record of another matrix":
        record.write_text(json.dumps({**json.loads(record.read_text()), "rows": 3}), encoding="utf-8")
    else:
        record.unlink()
    monkeypatch.setattr(probe_module, "_MEMORY", {})
    again = probe(tiny_bert).fit(TEXTS, STANCES).embed(TEXTS)
    np.testing.assert_array_equal(again, fresh)
    assert matrix.is_file() and json.loads(record.read_text())["rows"] == len(TEXTS)  # rebuilt in place


def test_e5_probe_trains_end_to_end_and_its_logged_model_predicts(tmp_path, tiny_bert, cache_dir):
    import mlflow

    from stancebench.experiment.train import train

    result = train(train_cfg(tmp_path, "data=peace_talks_seed", "~data.eval_sets.fignews", "eval=kfold", "eval.k=2",
                             "model=e5_probe", f"model.params.model_name_or_path={tiny_bert}", "model.params.prefix="))
    run = client(tmp_path).get_run(result["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["model_family"] == "probe" and run.data.tags["model"] == "e5_probe"
    assert 0 <= run.data.metrics["f_avg"] <= 1 and run.data.metrics["n_eval"] == len(TEXTS)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    out = mlflow.pyfunc.load_model(result["model_uri"]).predict(TEXTS[:2])
    assert set(out["label"]) <= {"favor", "against", "none"}
    assert all(abs(sum(p.values()) - 1) < 1e-6 for p in out["probabilities"])
