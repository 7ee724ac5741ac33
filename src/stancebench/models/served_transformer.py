"""MLflow "model from code" for transformer models whose text preprocessing lives in Python.

The transformers flavour hands raw strings straight to the tokenizer; a model trained on
AraBERT-preprocessed text must see the same preprocessing when served.  This file is logged as the
model's code (no pickle): it loads the fine-tuned Hugging Face folder (safetensors) from the run's
artifacts and applies :func:`stancebench.models.transformer.make_preprocessor` before the pipeline.
"""

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class PreprocessedTextClassifier(PythonModel):
    def load_context(self, context):
        from transformers import pipeline

        from stancebench.models.transformer import make_preprocessor

        config = context.model_config
        self.preprocess = make_preprocessor(config["preprocessing"], config["model_name"])
        folder = context.artifacts["hf_model"]
        self.pipe = pipeline("text-classification", model=folder, tokenizer=folder)
        self.max_length = int(config.get("max_length", 512))

    def predict(self, context, model_input, params=None):
        if isinstance(model_input, pd.DataFrame):
            texts = model_input["text"] if "text" in model_input.columns else model_input.iloc[:, 0]
        else:
            texts = model_input
        prepared = [self.preprocess(str(t)) for t in texts]
        out = self.pipe(prepared, truncation=True, max_length=self.max_length)
        return pd.DataFrame({"label": [o["label"] for o in out], "score": [o["score"] for o in out]})

    def label_scores(self, texts, batch_size=8):
        """Every class's probability for each raw text, as ``{label: probability}`` in the model's label order.

        The preprocessing and truncation of :meth:`predict`; ``stancebench predict`` reports these.
        """
        prepared = [self.preprocess(str(t)) for t in texts]
        out = self.pipe(prepared, truncation=True, max_length=self.max_length, top_k=None, batch_size=batch_size)
        id2label = self.pipe.model.config.id2label
        order = [id2label[i] for i in sorted(id2label)]
        rows = [{o["label"]: float(o["score"]) for o in row} for row in out]
        return [{label: row[label] for label in order} for row in rows]


mlflow.models.set_model(PreprocessedTextClassifier())
