"""Loading any dataset (the project's own, local files, hub ids) onto one set of columns
(:mod:`~stancebench.data.loader`)."""
