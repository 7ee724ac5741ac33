"""The dataset card of ``peace-talks-ar``, rendered from the built rows so its figures never drift."""

from __future__ import annotations

from collections import Counter

from stancebench.annotation import DIMENSIONS, LABELS, TARGET
from stancebench.corpus import Segment

_HEADER = """\
---
language:
- ar
license: other
license_name: mixed-see-card
pretty_name: "peace-talks-ar: stance and sentiment in Arabic news"
task_categories:
- text-classification
task_ids:
- sentiment-classification
tags:
- stance-detection
- arabic
- news
size_categories:
- n<1K
configs:
- config_name: default
  data_files:
  - split: train
    path: data/sentences.jsonl
- config_name: segments
  data_files:
  - split: train
    path: data/segments.jsonl
---
"""


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _distribution_table(rows: list[dict]) -> str:
    lines = ["| dimension | label | sentences | share |", "|---|---|---:|---:|"]
    for dim in DIMENSIONS:
        counts = Counter(r[dim] for r in rows)
        for label in LABELS[dim]:
            lines.append(f"| {dim} | `{label}` | {counts[label]} | {counts[label] / len(rows):.0%} |")
    return "\n".join(lines)


def _agreement_table(agreement: dict) -> str:
    lines = [
        "| dimension | items | percent agreement | Cohen's kappa | Krippendorff's alpha (nominal) |",
        "|---|---:|---:|---:|---:|",
    ]
    for dim in DIMENSIONS:
        a = agreement[dim]
        lines.append(
            f"| {dim} | {a['items']} | {_fmt(a['percent_agreement'])} | {_fmt(a['cohen_kappa'])} "
            f"| {_fmt(a['krippendorff_alpha'])} |"
        )
    return "\n".join(lines)


def render_card(rows: list[dict], segments: list[Segment], agreement: dict, version: str, n_folds: int) -> str:
    """Markdown card with a Hugging Face YAML header; deterministic for the same inputs."""
    articles = sorted({s.article_id for s in segments})
    boilerplate = [s for s in segments if s.boilerplate]
    adjudicated = sum(r["stance_adjudicated"] or r["sentiment_adjudicated"] for r in rows)
    annotators = ", ".join(f"`{a}`" for a in agreement[DIMENSIONS[0]]["annotators"])
    folds = max(r["fold"] for r in rows) + 1 if rows else 0
    body = f"""
# peace-talks-ar (version {version})

Sentences from Arabic news articles about the Russia-Ukraine war, each labelled with its **stance
toward the target "{TARGET}"** (`favor` / `against` / `none`) and its **sentiment**
(`positive` / `negative` / `neutral`). Built by [stancebench](../../README.md) from the articles in
`seeds/`; every figure on this card is computed by `python -m stancebench data build`.

```python
from datasets import load_dataset
ds = load_dataset("data/peace-talks-ar")            # split "train": the labelled sentences
segments = load_dataset("data/peace-talks-ar", "segments")  # every segment, boilerplate included
```

## Size

{len(rows)} labelled sentences from {len(articles)} article(s); {len(segments)} segments in all, of which
{len(boilerplate)} are page furniture flagged as boilerplate and kept out of the labelled set.
This is a **tiny** dataset: read every score computed on it together with its confidence interval.

## Columns (config `default`)

| column | meaning |
|---|---|
| `id` | stable sentence id: `<article_id>-<sha1(text)[:10]>`; never changes when articles are added |
| `article_id`, `sentence_index` | source article (file name without `.txt`) and position among its segments |
| `start`, `end` | character offsets into the source article: `article_text[start:end] == text` |
| `text` | the sentence |
| `target` | the stance target, `{TARGET}` |
| `stance`, `sentiment` | gold labels |
| `fold` | fixed fold (0-{n_folds - 1}) for k-fold evaluation, stratified on (stance, sentiment) |
| `annotators` | annotator names, in the order of the vote columns |
| `stance_votes`, `sentiment_votes` | each annotator's label (`""` where one gave none) |
| `stance_agreement`, `sentiment_agreement` | share of annotators whose label equals the gold label |
| `stance_adjudicated`, `sentiment_adjudicated` | whether the gold label came from adjudication |

The `segments` config lists every segment with `boilerplate` and the `boilerplate_rule` that flagged it.

## Label definitions

Stance toward "{TARGET}" (negotiations, summits, contacts between leaders or a ceasefire aimed at
ending the war): `favor` when the sentence expresses, reports or implies support for, readiness for,
progress toward or good prospects of talks (also conditional support, and wanting the war ended
quickly); `against` when it expresses, reports or implies rejection of talks, cutting off contacts,
refusing to negotiate or sabotaging a deal; `none` when no stance can be inferred (background, goals
or demands, warnings about terms that do not reject talks). Sentiment: `positive` for explicit hope,
progress, agreement, praise or openness; `negative` for violence, death, failure, threat, fear, a broken
pledge or hostility; `neutral` for factual wording or when neither dominates. A sentence is judged as
written, including the stance of whom it quotes. Full guidelines: `docs/ANNOTATION.md` in the repository.

## Label distribution

{_distribution_table(rows)}

## Annotation process and agreement

Annotators: {annotators}. Each made an independent pass over every sentence, from the guidelines
and the article alone, without seeing another's labels; each pass is kept as its own file
(`data/annotations/<annotator>.jsonl`). Where they disagreed, one adjudicator chose the gold label
and recorded a reason (`data/adjudication.jsonl`); {adjudicated} sentence(s) needed adjudication.

**Who the annotators were.** The passes of version {version} were made by two separate AI model
sessions (the same underlying language model, prompted independently), not by native-speaker
human annotators, and the adjudicator was also an AI session. Two passes of one model share its
biases, so the agreement below is very likely higher than two humans would reach and must not be
read as evidence of human-level reliability. Human passes added with `stancebench label` are
welcome and will be reported the same way.

Agreement, computed by `stancebench.annotation` from the annotator files:

{_agreement_table(agreement)}

With so few items a single disagreement moves kappa by a lot; the figures describe this sample, not
the guidelines in general.

## How to evaluate

With {len(rows)} sentences there is no meaningful held-out split. The protocol stancebench uses is
**leave-one-out** (or the stored {folds}-fold assignment in `fold`), pooling the out-of-fold
predictions and reporting macro-F1, `f_avg` (mean F1 of `favor` and `against`) for stance and
`f1_pn` (mean F1 of `positive` and `negative`) for sentiment, each with a 95 % bootstrap confidence
interval. Cross-dataset evaluation (train on a large external set such as ArSarcasm-v2, evaluate on
all of peace-talks-ar) is the other meaningful use.

## Source and licence

The text is the Arabic version of a news article on the Russia-Ukraine war and the 2024 US
presidential transition (the newsletter promotion at its top names the FT's "White House Watch"),
as provided in the project's seed corpus. Its copyright belongs to its publisher; it is not under
an open licence, and it is included here only as short sentences for non-commercial research on
stance and sentiment. Check whether your use is allowed before redistributing the text. The
annotations, ids, offsets and code are released under the MIT licence.

## Known limitations

- One article, {len(rows)} sentences: classes are small (see the distribution), some have one or
  no example; scores carry very wide confidence intervals.
- AI annotators only (see above); no human agreement study yet.
- Single target ("{TARGET}"); stance is judged per sentence without document context beyond what the
  annotator read.
- Segmentation keeps a multi-sentence quotation together with its attribution, so some rows hold
  more than one grammatical sentence.
"""
    return _HEADER + body
