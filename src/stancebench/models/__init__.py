"""Classifiers behind one small interface (:class:`stancebench.models.base.Classifier`).

Hydra instantiates them from ``conf/model/*.yaml`` (``params._target_``); ``train`` never needs to
know which family it holds.
"""
