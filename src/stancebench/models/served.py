"""The MLflow model of every stancebench classifier, logged as code (no pickle).

``load_context`` rebuilds the fitted classifier from the ``classifier`` artifact folder through its
own family's :meth:`~stancebench.models.base.Classifier.load_artifacts`; ``predict`` calls the same
``predict_scores`` the training run called.  Output: one row per input with ``label`` and the
per-class values (``probabilities``, or ``scores`` for margin models), as ``stancebench predict``
prints them.
"""

import mlflow
from mlflow.pyfunc import PythonModel


class StancebenchModel(PythonModel):
    # The signature is declared when the model is logged (text, or target and text, in; label and
    # per-class values out); MLflow's check of predict's type hints would only warn that there are none.
    _skip_type_hint_validation = True

    def load_context(self, context):
        from pathlib import Path

        from stancebench.models.base import load_folder

        self.classifier = load_folder(Path(context.artifacts["classifier"]))

    def predict(self, context, model_input, params=None):
        import pandas as pd

        from stancebench.models.base import split_model_input

        model = self.classifier
        labels, values = model.label_values(*split_model_input(model_input, model.target_aware_))
        return pd.DataFrame({"label": labels, model.score_kind: values})


mlflow.models.set_model(StancebenchModel())
