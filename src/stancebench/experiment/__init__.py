"""One experiment: the checked spec made from the Hydra config (:mod:`~stancebench.experiment.spec`),
the data it trains and scores on (:mod:`~stancebench.experiment.data`), the evaluation protocols
(:mod:`~stancebench.experiment.protocols`), the scores (:mod:`~stancebench.experiment.scoring`,
through the ``evaluate`` module in ``metrics/``) and the run itself (:mod:`~stancebench.experiment.train`)."""
