"""``python -m stancebench report``: from tracked runs to answers.

Reads the finished training runs of one MLflow experiment and writes, per (training data,
evaluation data, task, protocol) group:

* a leaderboard: one row per model and training-set size, with the task's main score and macro-F1
  as mean ± standard deviation over runs (seeds), and a 95 % bootstrap interval over evaluation
  items of that mean;
* paired significance tests of the best row of each other family (transformer, probe) against the
  best TF-IDF row on the same evaluation items (paired bootstrap on the main score, exact McNemar on
  correctness);
* figures: per-class F1 bars, confusion matrices side by side, score against training-set size;
* error analysis: the sentences the compared models got wrong, with gold labels and the annotators'
  votes on them when the evaluation data is a stancebench dataset.

Every number is recomputed from each run's logged ``predictions.jsonl`` on the evaluation items
all runs of the group share, so the rows of a group are compared on the same items.
Outputs: ``report.md``, a self-contained ``report.html`` (figures inline, Arabic right-to-left),
``report.json`` and ``figures/`` in the report folder, also logged to MLflow as a run of their own.

The modules, in the order the command uses them: ``records`` (runs read into records),
``analysis`` (records into scored groups), ``figures``, ``sections`` (the groups as one document
model), ``markdown`` and ``html`` (that document laid out), ``summary`` (report.json) and
``command`` (the command itself).
"""

from stancebench.report.command import run_report, shown_store
from stancebench.report.records import UPSTREAM_TEXT

__all__ = ["UPSTREAM_TEXT", "run_report", "shown_store"]
