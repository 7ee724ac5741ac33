"""The Hugging Face Trainer as the encoder families use it: class-weighted loss, per-epoch curves,
early stopping on the logged macro-F1, and a progress bar on a terminal."""

from __future__ import annotations

import math
import sys

import numpy as np


def macro_f1(eval_prediction) -> dict[str, float]:
    """Validation scores for early stopping: macro-F1 over every label of the model (the logits'
    columns), the same definition as the logged ``macro_f1`` (``stancebench.experiment.scoring``), not only over
    the classes a small validation split happens to contain."""
    from stancebench.experiment.scoring import classification_scores

    logits, labels = eval_prediction
    predicted = np.argmax(logits, axis=-1)
    scores = classification_scores(labels.tolist(), predicted.tolist(), list(range(logits.shape[-1])))
    return {"macro_f1": scores["macro_f1"], "accuracy": scores["accuracy"]}


def _make_trainer_classes():
    from transformers import Trainer, TrainerCallback

    class WeightedTrainer(Trainer):
        """Trainer with a class-weighted cross-entropy loss."""

        def __init__(self, *args, class_weights=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.class_weights = class_weights

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            import torch

            if self.class_weights is None:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            loss = torch.nn.functional.cross_entropy(
                outputs.logits, labels, weight=self.class_weights.to(outputs.logits.device)
            )
            return (loss, outputs) if return_outputs else loss

    class EpochReporter(TrainerCallback):
        """Hands per-epoch training loss and validation scores to the model's ``epoch_callback``."""

        def __init__(self, owner):
            self.owner = owner

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or self.owner.epoch_callback is None or not state.is_world_process_zero:
                return
            epoch = int(round(state.epoch or 0))
            values = {}
            for key, value in logs.items():
                if not isinstance(value, (int, float)) or math.isnan(float(value)):
                    continue
                if key == "loss":
                    values["train_loss"] = float(value)
                elif key in ("eval_loss", "eval_macro_f1", "eval_accuracy"):
                    values[key.replace("eval_", "val_")] = float(value)
            if values:
                self.owner.epoch_callback(epoch, values)

    class TerminalProgress(TrainerCallback):
        """A progress bar on stderr while fine-tuning: epoch, step, samples/s and time left."""

        def __init__(self, samples_per_step: int):
            self.samples_per_step = samples_per_step
            self.bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            import shutil

            from tqdm import tqdm

            if state.is_world_process_zero:
                # A terminal that reports no size (0 columns) would get an empty bar: 80 columns then.
                self.bar = tqdm(total=state.max_steps, unit=" samples", unit_scale=self.samples_per_step,
                                file=sys.stderr, ncols=shutil.get_terminal_size().columns, leave=False)

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                epochs = math.ceil(args.num_train_epochs)
                epoch = min(epochs, int(state.epoch or 0) + 1)
                self.bar.set_description(f"epoch {epoch}/{epochs} step {state.global_step}/{state.max_steps}")
                self.bar.update(1)

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return WeightedTrainer, EpochReporter, TerminalProgress


_TRAINER_CLASSES: tuple | None = None


def trainer_classes():
    """(WeightedTrainer, EpochReporter, TerminalProgress), built on first use: importing stays cheap."""
    global _TRAINER_CLASSES
    if _TRAINER_CLASSES is None:
        _TRAINER_CLASSES = _make_trainer_classes()
    return _TRAINER_CLASSES
