"""The labelled corpus: articles and their segmentation (:mod:`~stancebench.corpus.articles`), the
label schema, annotator files and agreement (:mod:`~stancebench.corpus.annotation`), the terminal
labelling tool (:mod:`~stancebench.corpus.label`), sources beyond the seed
(:mod:`~stancebench.corpus.sources`), the dataset build (:mod:`~stancebench.corpus.dataset`) and its
card (:mod:`~stancebench.corpus.card`)."""
