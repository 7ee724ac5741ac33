#!/usr/bin/env bash
# The runs behind experiments/baselines.md, in the project's own store (./mlflow.db), experiment
# "baselines".  TF-IDF takes seconds; e5_small fine-tuning takes ~25 min on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
EXP=tracking.experiment=baselines

# peace-talks-ar, both tasks, leave-one-out (its tiny-data protocol), TF-IDF and fine-tuned e5-small.
$PY -m stancebench train -m experiment=peace_talks_stance,peace_talks_sentiment model=tfidf_logreg,tfidf_svm $EXP
$PY -m stancebench train -m experiment=peace_talks_stance,peace_talks_sentiment model=e5_small $EXP

# ArSarcasm-v2 sentiment, official test split.  TF-IDF on the full training set and on the same
# 600-tweet subsample e5-small is fine-tuned on (one epoch: ~10 s per step of 16 on 2 cores);
# all three scored on the same first 1,000 test tweets (e5 inference runs at ~7 tweets/s here).
$PY -m stancebench train experiment=arsarcasm_sentiment max_eval_samples=1000 $EXP
$PY -m stancebench train experiment=arsarcasm_sentiment max_train_samples=600 max_eval_samples=1000 $EXP
$PY -m stancebench train experiment=arsarcasm_sentiment model=e5_small max_train_samples=600 max_eval_samples=1000 \
  model.params.epochs=1 $EXP

# Cross-dataset: sentiment trained on all ArSarcasm-v2 tweets, scored on every peace-talks-ar sentence.
$PY -m stancebench train experiment=sentiment_transfer $EXP

# AraBERT (needs the hub or a local copy; fails in seconds with a way out here):
#   $PY -m stancebench train -m experiment=peace_talks_stance,peace_talks_sentiment model=arabert $EXP
#   $PY -m stancebench train experiment=arsarcasm_sentiment model=arabert $EXP
