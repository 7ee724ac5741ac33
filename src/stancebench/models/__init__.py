"""Classifier families behind one interface (:class:`stancebench.models.base.Classifier`), each owning
its whole life: fit, scores, its saved form and its MLflow model (:mod:`~stancebench.models.served`).

Hydra instantiates them from ``conf/model/*.yaml`` (``params._target_``); a family's name is its
class's ``family``.  Families: :mod:`~stancebench.models.tfidf` (TF-IDF + linear classifier) and
:mod:`~stancebench.models.transformer` (fine-tuned encoders; e5 weights from :mod:`~stancebench.models.e5`).
"""
