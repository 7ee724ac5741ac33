"""evaluate metric: accuracy, macro-F1, per-label F1, f_avg (stance) and f1_pn (sentiment)."""

import datasets
import evaluate

from stancebench.experiment.scoring import classification_scores
from stancebench.tasks import TASKS

_DESCRIPTION = """Stance and sentiment scores over string labels: accuracy, macro_f1, f1_<label> for each
label, f_avg = mean F1 of favor and against (task="stance"), f1_pn = mean F1 of positive and
negative (task="sentiment")."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted label strings.
    references: gold label strings.
    labels: the task's label names (every one gets an f1_<label> score).
    task: "stance" or "sentiment" (adds f_avg or f1_pn).
Returns:
    dict of float scores.
Example:
    >>> m = evaluate.load("/path/to/stance_sentiment_scores")
    >>> m.compute(predictions=["favor"], references=["favor"], labels=["favor", "against", "none"], task="stance")["f_avg"]
    0.5
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class StanceSentimentScores(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="\n".join(f"{task.main_score} ({name}): {task.citation}" for name, task in TASKS.items()),
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, labels, task=None):
        return classification_scores(references, predictions, labels, task)
