#!/usr/bin/env bash
# The runs behind experiments/encoders-v1.md and experiments/encoders-v1/report.*: TF-IDF against a
# fine-tuned transformer (e5_small, the fast defaults: bf16 autocast on this CPU, frozen word
# embeddings, length-grouped batches, no attention dropout) and a frozen-encoder probe (e5_probe), at
# full size.
#   1. ArSarcasm-v2 sentiment: all 12,548 training tweets, scored on all 3,000 test tweets.
#   2. peace-talks-ar 2.0: the written training split, scored on the real seed sentences (test) and
#      on the real FIGNEWS-2024 sentences (eval set `fignews`), stance and sentiment.
# Project store (./mlflow.db), experiment "encoders-v1".  On 2 CPU cores (2026-12-01): 37 min for the
# ArSarcasm-v2 fine-tune, 6-7 min for each peace-talks fine-tune, under a minute for each other run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
EXP=tracking.experiment=encoders-v1
# e5_small: 3 epochs; the best epoch by validation macro-F1 (10 % of the training data held out) is logged.
E5="model=e5_small model.params.epochs=3 model.params.early_stopping_patience=2"

$PY -m stancebench data build  # FIGNEWS rows joined from the local copy; committed files unchanged

# 1. ArSarcasm-v2.
$PY -m stancebench train experiment=arsarcasm_sentiment model=tfidf_svm seed=0 $EXP
$PY -m stancebench train experiment=arsarcasm_sentiment model=e5_probe seed=0 $EXP
$PY -m stancebench train experiment=arsarcasm_sentiment $E5 seed=0 $EXP

# 2. peace-talks-ar: TF-IDF and the probe with three seeds (both fits are deterministic: the seeds
#    give identical predictions), the fine-tune with two.
$PY -m stancebench train -m experiment=peace_talks_stance,peace_talks_sentiment model=tfidf_logreg,e5_probe \
  seed=0,1,2 $EXP
$PY -m stancebench train -m seed=0,1 experiment=peace_talks_stance,peace_talks_sentiment $E5 $EXP

$PY -m stancebench report --experiment encoders-v1
