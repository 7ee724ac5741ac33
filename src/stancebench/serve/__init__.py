"""Serving logged models: ``stancebench predict`` (:mod:`~stancebench.serve.predict`), its inputs
(:mod:`~stancebench.serve.inputs`) and model loading (:mod:`~stancebench.serve.loading`)."""
