"""What the encoder families share between tokenising and the forward pass: quiet Hugging Face
libraries, and batches of similar length padded by hand (no collator, no ``datasets.map``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

# Right padding, as the tokenizers pad: the value of each input beyond a text's last token.
PAD_VALUES = {"attention_mask": 0, "token_type_ids": 0}


def quiet_transformers() -> None:
    """No load reports, per-step prints or progress bars from transformers: a run's curves go to
    MLflow, and fine-tuning has its own bar on a terminal."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def length_sorted_batches(encoded, batch_size: int, pad_id: int,
                          keys: Sequence[str] = ("input_ids", "attention_mask", "token_type_ids"),
                          device=None) -> Iterator[tuple[np.ndarray, dict]]:
    """``(index, tensors)`` per batch of ``batch_size`` texts, longest first: ``index`` says which rows
    of the input the batch holds, ``tensors`` the padded ``keys`` the tokenizer returned."""
    import torch

    lengths = np.array([len(ids) for ids in encoded["input_ids"]], dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    present = [k for k in keys if k in encoded]
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        width = int(lengths[index].max())
        batch = {}
        for key in present:
            values = np.full((len(index), width), pad_id if key == "input_ids" else PAD_VALUES[key], dtype=np.int64)
            for row, i in enumerate(index):
                values[row, :lengths[i]] = encoded[key][i]
            tensor = torch.from_numpy(values)
            batch[key] = tensor.to(device) if device is not None else tensor
        yield index, batch
