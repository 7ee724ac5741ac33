#!/usr/bin/env bash
# The runs behind experiments/baselines.md and experiments/baselines/report.*, in the project's own
# store (./mlflow.db), experiment "baselines", then the report.  TF-IDF takes seconds per run;
# e5_small fine-tuning under leave-one-out takes ~8 min per task on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
EXP=tracking.experiment=baselines

# peace-talks-ar, both tasks, leave-one-out (its tiny-data protocol), TF-IDF and fine-tuned e5-small.
$PY -m stancebench train -m experiment=peace_talks_stance,peace_talks_sentiment model=tfidf_logreg,tfidf_svm $EXP
$PY -m stancebench train -m experiment=peace_talks_stance,peace_talks_sentiment model=e5_small $EXP

# ArSarcasm-v2 sentiment, official test split, all scored on the same 1,000 test tweets (a fixed
# sample): word+char TF-IDF + LinearSVC on the full training set and on 600 / 2,000 / 6,000 tweets
# (the report's score-vs-training-size plot).
$PY -m stancebench train experiment=arsarcasm_sentiment max_eval_samples=1000 $EXP
for n in 600 2000 6000; do
  $PY -m stancebench train experiment=arsarcasm_sentiment max_train_samples=$n max_eval_samples=1000 $EXP
done

# Cross-dataset: sentiment trained on all ArSarcasm-v2 tweets, scored on every peace-talks-ar sentence.
$PY -m stancebench train experiment=sentiment_transfer $EXP

# Leaderboards, significance tests, figures and error analysis: experiments/baselines/.
$PY -m stancebench report --experiment baselines

# Not in the report (slow here): e5-small on ArSarcasm-v2, one epoch on 600 tweets (~15 min):
#   $PY -m stancebench train experiment=arsarcasm_sentiment model=e5_small max_train_samples=600 \
#     max_eval_samples=1000 model.params.epochs=1 $EXP
# AraBERT (needs the hub or a local copy; fails in seconds with a way out here):
#   $PY -m stancebench train -m experiment=peace_talks_stance,peace_talks_sentiment model=arabert $EXP
