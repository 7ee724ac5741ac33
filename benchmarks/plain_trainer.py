"""The plain Hugging Face Trainer baseline of bench_transformer.py: no stancebench, no tracking.

Fine-tunes MODEL_DIR for sequence classification on TRAIN_CSV (columns text,label) with the same
hyperparameters stancebench uses for the benchmark, and prints the Trainer's own throughput.
Usage: python plain_trainer.py MODEL_DIR TRAIN_CSV EPOCHS BATCH_SIZE MAX_LENGTH OUT_JSON
"""

import json
import sys
import tempfile

import pandas as pd
from datasets import Dataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)


def main(model_dir, train_csv, epochs, batch_size, max_length, out):
    frame = pd.read_csv(train_csv, dtype=str, keep_default_na=False)
    labels = sorted(set(frame["label"]))
    set_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)})
    data = Dataset.from_dict({"text": list(frame["text"]), "label": [labels.index(x) for x in frame["label"]]})
    data = data.map(lambda b: tokenizer(b["text"], truncation=True, max_length=int(max_length)), batched=True,
                    remove_columns=["text"])
    args = TrainingArguments(output_dir=tempfile.mkdtemp(), num_train_epochs=int(epochs), learning_rate=5e-5,
                             per_device_train_batch_size=int(batch_size), warmup_steps=0.1, weight_decay=0.01,
                             save_strategy="no", eval_strategy="no", logging_strategy="epoch", report_to="none",
                             seed=0, data_seed=0, use_cpu=True, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                      data_collator=DataCollatorWithPadding(tokenizer))
    metrics = trainer.train().metrics
    with open(out, "w") as f:
        json.dump({"train_samples_per_second": metrics["train_samples_per_second"],
                   "train_runtime": metrics["train_runtime"]}, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
