"""Every MLflow call of stancebench, in one corner.

* :mod:`~stancebench.tracking.store`: where runs go (URI, artifact root, experiment), reachability;
* :mod:`~stancebench.tracking.redaction`: secrets kept out of params, tags and configs;
* :mod:`~stancebench.tracking.runs`: a run's life (always ended, results kept when a server is lost);
* :mod:`~stancebench.tracking.registry`: reading runs back, report runs, registry aliases;
* :mod:`~stancebench.tracking.ui`: ``stancebench ui``.

Models save and log themselves (:mod:`stancebench.models.base`): nothing here picks a flavour.
"""
