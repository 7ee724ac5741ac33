"""``python -m stancebench predict``: labels and class values for new sentences from a logged model.

The model is named by an MLflow URI (``runs:/<run id>/model``, ``models:/<name>/<version>``,
``models:/<name>@<alias>``) or a saved model folder (:mod:`stancebench.serve.loading`).  A
stancebench model carries its whole preprocessing (Arabic normalisation and TF-IDF, or the
tokenizer, AraBERT preprocessing and target pairing) and gives the probabilities its run computed.

One JSON object per sentence::

    {"id": 0, "text": "...", "label": "favor", "probabilities": {"against": 0.05, "favor": 0.69, "none": 0.26}}

``probabilities`` for models that have them (logistic regression, transformers: softmax), ``scores``
(decision-function margins) for those that do not (LinearSVC).  ``id`` is the input's id column, else
the 0-based position (line of a text or JSONL file, row of a CSV file, position among the arguments).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from stancebench.errors import UserError
from stancebench.paths import atomic_open
from stancebench.serve.inputs import Sentence, read_sentences
from stancebench.serve.loading import LoadedModel, open_model


def show_progress(n_items: int, batch_size: int, requested: bool | None, stream: TextIO) -> bool:
    """``requested`` wins; by default a bar only on a terminal, and only for more than one batch."""
    if requested is not None:
        return requested
    return n_items > batch_size and stream.isatty()


def predict_sentences(model: LoadedModel, sentences: Sequence[Sentence], batch_size: int = 512,
                      progress: bool | None = None) -> Iterator[dict]:
    """One output record per sentence, in input order, computed ``batch_size`` sentences at a time."""
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size} must be 1 or more")
    if model.target_aware and any(not s.target for s in sentences):
        missing = next(s for s in sentences if not s.target)
        raise UserError(f"the model is target-aware (trained on target + sentence pairs) and sentence id {missing.id!r} "
                        "has no target; give --target TEXT or a target column (--target-column NAME)")
    from tqdm import tqdm

    show = show_progress(len(sentences), batch_size, progress, sys.stderr)
    with tqdm(total=len(sentences), unit="sentence", file=sys.stderr, disable=not show, dynamic_ncols=True) as bar:
        for start in range(0, len(sentences), batch_size):
            batch = sentences[start:start + batch_size]
            with contextlib.redirect_stdout(sys.stderr):
                labels, scores = model.predict([s.text for s in batch], [s.target for s in batch])
            for sentence, label, values in zip(batch, labels, scores):
                record: dict[str, Any] = {"id": sentence.id, "text": sentence.text}
                if sentence.target is not None:
                    record["target"] = sentence.target
                record["label"] = label
                if values is not None:
                    record.update(values if model.score_field is None else {model.score_field: values})
                yield record
            bar.update(len(batch))


def write_jsonl(records: Iterable[dict], output: Path | None, stream: TextIO) -> int:
    """Write ``records`` as JSON lines to ``output`` (a temporary file renamed into place) or ``stream``."""
    if output is None:
        n = 0
        for n, record in enumerate(records, start=1):
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        stream.flush()
        return n
    output = Path(output).expanduser()
    if not output.parent.is_dir():
        raise UserError(f"the folder of --output {output} does not exist; create it or choose another path")
    with atomic_open(output) as f:
        return write_jsonl(records, None, f)


def run_predict(model_uri: str, texts: Sequence[str] = (), input_path: Path | str | None = None, *,
                output: Path | None = None, fmt: str = "auto", text_column: str = "text",
                target_column: str = "target", id_column: str = "id", target: str | None = None,
                batch_size: int = 512, progress: bool | None = None, tracking_uri: str | None = None,
                stream: TextIO | None = None) -> int:
    """The predict command: read, check, load, predict in batches, write; returns the number of sentences."""
    sentences = read_sentences(texts, input_path, fmt, text_column, target_column, id_column, target)
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size} must be 1 or more")
    if output is not None and not Path(output).expanduser().parent.is_dir():
        raise UserError(f"the folder of --output {output} does not exist; create it or choose another path")
    stream = stream or sys.stdout
    with open_model(model_uri, tracking_uri) as model:
        return write_jsonl(predict_sentences(model, sentences, batch_size, progress), output, stream)
