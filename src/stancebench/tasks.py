"""The tasks stancebench scores, each defined once: labels, main score, its definition and source.

Everything that needs a task's labels or main score reads them here: the annotation schema
(:mod:`stancebench.corpus.annotation`), the scores (:mod:`stancebench.experiment.scoring` and the
``evaluate`` module), the experiment spec (``task=stance`` in ``conf/``) and the command line.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from stancebench.errors import UserError


@dataclass(frozen=True)
class TaskSpec:
    """One classification task: what is labelled, with which labels, and the score that ranks models.

    ``main_pair`` are the two labels whose mean F1 is the main score (``main_score``); the third label
    (``none``, ``neutral``) counts in macro-F1 but not in the main score, as in the shared tasks the
    score comes from.
    """

    name: str
    labels: tuple[str, ...]
    main_score: str
    main_pair: tuple[str, str]
    description: str
    main_score_definition: str
    citation: str

    def with_labels(self, labels: tuple[str, ...] | None, main_score: str | None) -> "TaskSpec":
        """This task restricted to ``labels`` and/or ranked by ``main_score`` (config overrides)."""
        from dataclasses import replace

        labels = tuple(labels) if labels else self.labels
        unknown = [label for label in labels if label not in self.labels]
        if unknown or len(labels) < 2 or len(set(labels)) != len(labels):
            raise UserError(f"task.labels={list(labels)} must be two or more distinct labels of task {self.name} "
                            f"({', '.join(self.labels)})")
        main = main_score or self.main_score
        allowed = ("macro_f1", "accuracy", *([self.main_score] if set(self.main_pair) <= set(labels) else []))
        if main not in allowed:
            raise UserError(f"task.main_score={main!r} is not one of {', '.join(allowed)} for task {self.name} with "
                            f"labels {list(labels)}")
        return replace(self, labels=labels, main_score=main)


TASKS: dict[str, TaskSpec] = {
    "stance": TaskSpec(
        name="stance",
        labels=("favor", "against", "none"),
        main_score="f_avg",
        main_pair=("favor", "against"),
        description="Stance of a news sentence toward peace talks (or the stance target it is paired with).",
        main_score_definition="mean of the F1 of favor and of against",
        citation="Mohammad, Kiritchenko, Sobhani, Zhu and Cherry (2016), SemEval-2016 Task 6: Detecting "
                 "Stance in Tweets, Proceedings of SemEval-2016, 31-41",
    ),
    "sentiment": TaskSpec(
        name="sentiment",
        labels=("positive", "negative", "neutral"),
        main_score="f1_pn",
        main_pair=("positive", "negative"),
        description="Sentiment of a news sentence or tweet: positive, negative or neutral.",
        main_score_definition="mean of the F1 of positive and of negative",
        citation="Abu Farha, Zaghouani and Magdy (2021), Overview of the WANLP 2021 Shared Task on Sarcasm "
                 "and Sentiment Detection in Arabic, Proceedings of WANLP 2021, 296-305",
    ),
}


def get_task(name: str) -> TaskSpec:
    """The task called ``name``; an unknown name is one error line with the closest known one."""
    if name in TASKS:
        return TASKS[name]
    close = difflib.get_close_matches(str(name), TASKS, n=1)
    hint = f"did you mean task={close[0]}? " if close else ""
    raise UserError(f"task={name!r} is not a stancebench task; {hint}tasks: {', '.join(TASKS)}")
