"""The dataset card of ``peace-talks-ar``, rendered from the built rows so its figures never drift."""

from __future__ import annotations

from collections import Counter

from stancebench.corpus.annotation import DIMENSIONS, LABELS, TARGET
from stancebench.corpus.articles import Segment


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


_ROW_TYPES = {
    "id": "string", "source": "string", "conflict": "string", "article_id": "string", "sentence_index": "int32",
    "start": "int32", "end": "int32", "text": "string", "target": "string", "stance": "string",
    "sentiment": "string", "fold": "int32", "annotators": "list", "stance_votes": "list",
    "sentiment_votes": "list", "stance_agreement": "float64", "sentiment_agreement": "float64",
    "stance_adjudicated": "bool", "sentiment_adjudicated": "bool", "intended_stance": "string",
    "intended_sentiment": "string", "hard_case": "string",
}
_SEGMENT_TYPES = {"id": "string", "article_id": "string", "index": "int32", "start": "int32", "end": "int32",
                  "text": "string", "boilerplate": "bool", "boilerplate_rule": "string"}


def _features(config: str, types: dict[str, str], download_size: int | None) -> list[str]:
    """``dataset_info`` of one config: explicit feature types, so that a column that is null in one
    split (``intended_stance`` in the real test split) has the same type in every split, and the bytes
    of its data files.  The size also changes the datasets library's cache key for the folder, which
    otherwise depends on the file names only (a rebuilt folder would load stale rows)."""
    from stancebench.corpus.labelled import SENTENCE_COLUMNS

    assert types is _SEGMENT_TYPES or list(types) == list(SENTENCE_COLUMNS), "card types out of date"
    lines = [f"- config_name: {config}", "  features:"]
    for name, kind in types.items():
        lines += [f"  - name: {name}", "    list: string" if kind == "list" else f"    dtype: {kind}"]
    if download_size is not None:
        lines.append(f"  download_size: {download_size}")
    return lines


def _yaml_header(layout: dict, n_rows: int, sizes: dict[str, int]) -> str:
    size = "n<1K" if n_rows < 1000 else "1K<n<10K" if n_rows < 10000 else "10K<n<100K"
    lines = ["---", "language:", "- ar", "license: other", "license_name: mixed-see-card",
             'pretty_name: "peace-talks-ar: stance and sentiment in Arabic news"',
             "task_categories:", "- text-classification", "task_ids:", "- sentiment-classification",
             "tags:", "- stance-detection", "- arabic", "- news", "size_categories:", f"- {size}", "configs:",
             "- config_name: default", "  data_files:"]
    for split, files in layout["default"].items():
        if files:
            lines += [f"  - split: {split}", "    path:"] + [f"    - {f}" for f in files]
    for name, path in sorted(layout["sources"].items()):
        lines += [f"- config_name: {name}", "  data_files:", "  - split: train", f"    path: {path}"]
    lines += ["- config_name: segments", "  data_files:", "  - split: train", "    path: data/segments.jsonl"]
    lines += ["dataset_info:"]
    default_files = [f for files in layout["default"].values() for f in files]
    lines += _features("default", _ROW_TYPES, sum(sizes.get(f, 0) for f in default_files))
    for config in sorted(layout["sources"]):
        lines += _features(config, _ROW_TYPES, sizes.get(layout["sources"][config]))
    lines += _features("segments", _SEGMENT_TYPES, sizes.get("data/segments.jsonl")) + ["---"]
    return "\n".join(lines) + "\n"


def _table(header: list[str], body: list[list[object]], align: str | None = None) -> str:
    align = align or "|".join("---" if i == 0 else "---:" for i in range(len(header)))
    return "\n".join(["| " + " | ".join(header) + " |", f"|{align}|",
                      *("| " + " | ".join(str(c) for c in row) + " |" for row in body)])


def _sources_table(sets) -> str:
    body = []
    for s in sets:
        conflicts = Counter(r["conflict"] for r in s.rows)
        body.append([f"`{s.name}`", s.split, s.kind, len(s.rows),
                     ", ".join(f"{c} {n}" for c, n in conflicts.most_common())])
    return _table(["source", "split", "kind", "sentences", "conflicts"], body, "---|---|---|---:|---")


def _distribution_table(sets) -> str:
    lines = ["| source | dimension | label 1 | label 2 | label 3 |", "|---|---|---|---|---|"]
    for s in sets:
        for dim in DIMENSIONS:
            counts = Counter(r[dim] for r in s.rows)
            n = max(1, len(s.rows))
            cells = [f"`{lab}` {counts[lab]} ({counts[lab] / n:.0%})" for lab in LABELS[dim]]
            lines.append(f"| `{s.name}` | {dim} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _agreement_table(sets) -> str:
    body = []
    for s in sets:
        for dim in DIMENSIONS:
            a = s.agreement[dim]
            adjudicated = sum(r[f"{dim}_adjudicated"] for r in s.rows)
            body.append([f"`{s.name}`", dim, len(a["annotators"]), a["items"], _fmt(a["percent_agreement"]),
                         _fmt(a["cohen_kappa"]), _fmt(a["krippendorff_alpha"]), adjudicated])
    return _table(["source", "dimension", "passes", "items", "percent agreement", "Cohen's kappa (mean of pairs)",
                   "Krippendorff's alpha (nominal)", "adjudicated"], body, "---|---|---:|---:|---:|---:|---:|---:")


def _agreement_comment(sets) -> str:
    """What the agreement figures mean, from the figures themselves."""
    out = []
    for s in sets:
        kappas = {dim: s.agreement[dim]["cohen_kappa"] for dim in DIMENSIONS}
        high = [dim for dim, k in kappas.items() if k is not None and k > 0.9]
        if not high:
            continue
        shown = " and ".join(f"{kappas[d]:.3f} ({d})" for d in high)
        if s.kind == "written":
            why = ("the written sentences state their stance and tone more plainly than real copy, and the "
                   "passes share one model's reading of them")
        else:
            top = max(LABELS["stance"], key=lambda lab: sum(r["stance"] == lab for r in s.rows))
            share = sum(r["stance"] == top for r in s.rows) / max(1, len(s.rows))
            why = (f"on real text this mostly reflects that the passes share one model's reading (below); "
                   f"{share:.0%} of its {len(s.rows)} sentences are `{top}`")
        out.append(f"`{s.name}`: a Cohen's kappa of {shown} is far above the 0.7-0.8 that two careful "
                   f"independent human annotators reach on this kind of text; {why}.")
    return "\n".join(f"- {line}" for line in out) if out else ""


def _intent_table(s) -> str:
    body = []
    for dim in DIMENSIONS:
        a = s.intent[dim]
        passes = ", ".join(f"{k} {_fmt(v)}" for k, v in a["pass_equals_intended"].items())
        body.append([dim, a["items"], _fmt(a["gold_equals_intended"]), _fmt(a["cohen_kappa_gold_vs_intended"]), passes])
    return _table(["dimension", "items", "gold = intended", "Cohen's kappa gold vs intended", "each pass = intended"],
                  body, "---|---:|---:|---:|---")


def _hard_case_table(s) -> str:
    counts = Counter(r["hard_case"] for r in s.rows if r["hard_case"])
    return ", ".join(f"`{k}` {n}" for k, n in sorted(counts.items())) or "none"


def _written_section(s) -> str:
    from stancebench.corpus.sources import NEAR_DUPLICATE_JACCARD

    d = s.diversity
    return f"""### The written split `{s.name}`

{len(s.rows)} sentences, each kept with the writer's intended labels (`intended_stance`,
`intended_sentiment`) and, where the writer tagged one, the hard case it exercises (`hard_case`):
{_hard_case_table(s)}. The gold labels do **not** come from the writer: two annotation passes that saw
neither the intended labels nor each other labelled every sentence, and disagreements were adjudicated
as for real text. How often gold and intent agree:

{_intent_table(s)}

Near-duplicates were removed (the later-written sentence of each pair is dropped): two sentences whose
character 5-gram sets (after removing diacritics and tatweel and unifying alef, yeh and teh marbuta)
have a Jaccard similarity of {NEAR_DUPLICATE_JACCARD} or more count as near-duplicates, and the build
refuses a file that still has such a pair.
Diversity of what is left (`stancebench.corpus.sources.diversity`): distinct word 1/2/3-grams
{d['distinct_1']:.3f} / {d['distinct_2']:.3f} / {d['distinct_3']:.3f} (unique n-grams over all n-grams);
mean similarity of each sentence to its nearest neighbour (character 5-gram Jaccard) {d['nn_jaccard_mean']:.3f},
highest {d['nn_jaccard_max']:.3f}; {d['mean_words']:.1f} words per sentence on average.

**What written sentences imply.** These sentences were written by AI writer sessions for this project,
from a brief with quotas (conflict, stance, sentiment, hard cases) and lists of speakers, places and
formulations to vary; they were not collected from any outlet and describe no real event reliably
(names are real, statements and numbers are invented). They are training data only, never a test
split. A model trained on them learns how an AI writes news about peace talks: vocabulary and
constructions are more regular than real copy, and rare real-world phrasings may be missing. Judge
models on the real splits (`test`, and FIGNEWS once built), not on held-out written sentences.
"""


def render_card(sets, segments: list[Segment], layout: dict, version: str, n_folds: int,
                sizes: dict[str, int] | None = None) -> str:
    """Markdown card with a Hugging Face YAML header; deterministic for the same inputs.

    ``sizes``: bytes of each data file (``data/<name>.jsonl``), for the header's ``download_size``;
    files kept upstream are left out, so the card does not depend on whether they were built."""
    seed = sets[0]
    written = [s for s in sets if s.kind == "written"]
    posts = [s for s in sets if s.kind == "posts"]
    boilerplate = [x for x in segments if x.boilerplate]
    n_rows = sum(len(s.rows) for s in sets)
    train_files = layout["default"].get("train", [])
    test_files = layout["default"].get("test", [])
    load_lines = ["from datasets import load_dataset",
                  'ds = load_dataset("data/peace-talks-ar")   # ' +
                  (f"train: {', '.join(train_files)}; test: {', '.join(test_files)}" if test_files
                   else f"train: {', '.join(train_files)}")]
    for s in written:
        load_lines.append(f'written = load_dataset("data/peace-talks-ar", "{s.name}")   # votes and intended labels')
    for s in posts:
        load_lines.append(f'{s.name.split("-")[0]} = load_dataset("data/peace-talks-ar", "{s.name}")   '
                          "# after `stancebench data build` (text joined locally)")
    load_lines.append('segments = load_dataset("data/peace-talks-ar", "segments")   '
                      "# seed segments, boilerplate included")
    load_code = "\n".join(load_lines)

    source_lines = "".join(
        [f"- `{s.name}` ({len(s.rows)} sentences): written for the project by AI writers; the `train` split.\n"
         for s in written]
        + [f"- `{s.name}` ({len(s.rows)} sentences): real news posts whose text stays upstream; config "
           f"`{s.name}`, built locally.\n" for s in posts])
    licence_lines = "".join(
        [f"- `{s.name}`: written for this project (AI writers); released with the project under the MIT licence.\n"
         for s in written] + [f"- `{s.name}`: {s.source.licence} {s.source.rights}\n" for s in posts])
    real_sizes = "".join(f", {len(s.rows)} {s.name} sentences on {', '.join(sorted({r['conflict'] for r in s.rows}))}"
                         for s in posts)
    posts_text = ""
    for s in posts:
        src = s.source
        posts_text += f"""### `{s.name}`: {src.title}

Real posts, kept upstream: the committed tree holds the project's labels only
(`data/sources/{s.name}/annotations/*.jsonl`, one file per pass, each row keyed to the document
(`doc`: {', '.join(src.key)}) and the sentence's character offsets `start`/`end`), never the text.
`python -m stancebench data build` reads the text from the local copy (`{src.local}`) or, online,
downloads the pinned file, checks its sha256 (`{src.sha256}`) and joins it into
`data/{s.name}.jsonl`, which git ignores (its checksum goes to `SHA256SUMS.upstream`); `train`
does the same from the local copy on first use. Documents are segmented like articles, and the
furniture of social-media posts (a closing run of hashtags, channel plugs such as "follow us on
Telegram", bare links, calls to action such as "للمزيد", lines that are not Arabic) is flagged as
boilerplate and left unlabelled. {len(s.rows)} sentences from
{len({r['article_id'] for r in s.rows})} posts are labelled.

- Licence: {src.licence}
- Rights: {src.rights}
- Citation: {src.citation}
- Upstream file: {src.url}

"""
    body = f"""
# peace-talks-ar (version {version})

Arabic news sentences, each labelled with its **stance toward the target "{TARGET}"** (`favor` /
`against` / `none`) and its **sentiment** (`positive` / `negative` / `neutral`), and the war it is
about (`conflict`). Built by [stancebench](../../README.md); every figure on this card is computed by
`python -m stancebench data build` from the files in `data/`.

```python
{load_code}
```

## Sources and splits

{_sources_table(sets)}

- `seed` ({len(seed.rows)} sentences): real news, the articles in `seeds/`
  ({len({x.article_id for x in segments})} article(s), {len(segments)} segments, {len(boilerplate)} flagged
  as boilerplate). It is the `test` split of the default config{'' if written else ' (its only split, named train)'}.
{source_lines}
Train on `train`, evaluate on the real sets. The seed is small ({len(seed.rows)} sentences): read every
score on it with its confidence interval.

## Label distribution

{_distribution_table(sets)}

## Columns

| column | meaning |
|---|---|
| `id` | stable sentence id: `<document id>-<sha1(text)[:10]>` for real text, `syn-<sha1(normalised text)[:10]>` for written sentences |
| `source`, `conflict` | the source (table above) and the war the sentence is about (`russia-ukraine`, `israel-gaza`, ...) |
| `article_id`, `sentence_index` | the document (seed file name, or the post key) and the position among its segments; for written rows `null` and the line |
| `start`, `end` | character offsets into the document: `document_text[start:end] == text` (`null` for written rows) |
| `text` | the sentence |
| `target` | the stance target, `{TARGET}` |
| `stance`, `sentiment` | gold labels |
| `fold` | fixed fold (0-{n_folds - 1}) within the source, stratified on (stance, sentiment) |
| `annotators` | the annotation passes, in the order of the vote columns |
| `stance_votes`, `sentiment_votes` | each pass's label (`""` where one gave none) |
| `stance_agreement`, `sentiment_agreement` | share of passes whose label equals the gold label |
| `stance_adjudicated`, `sentiment_adjudicated` | whether the gold label came from adjudication |
| `intended_stance`, `intended_sentiment`, `hard_case` | written rows: what the writer meant and the hard case exercised (`null` for real text) |

## Label definitions (guidelines version 2)

Target "{TARGET}": negotiations, mediation, summits, meetings or contacts between the parties'
leaders, truces, ceasefires and prisoner or hostage exchange deals aimed at ending or pausing a war,
in any war (version 1 covered Russia-Ukraine only). `favor`: the sentence expresses, reports or implies
support for, readiness for, progress toward or good prospects of talks, a truce or a negotiated end
(also support under an ordinary condition, a mediator's effort, accepting or extending a truce, wanting
the war ended quickly). `against`: rejection of talks, cutting off contacts, refusing to negotiate,
walking out, denying a deal in order to continue the war, sabotage, a condition that amounts to refusal.
`none`: no stance can be inferred (background, battlefield news, goals or demands, what talks covered,
"no meeting is planned", poor prospects or criticism that do not reject talks). Sentiment: `positive`
for explicit hope, progress, agreement, praise or openness; `negative` for violence, death, failure,
threat, fear, a broken pledge or hostility; `neutral` for factual wording or when neither dominates.
Decided hard cases: the quoted speaker's stance counts; with two stances the main clause wins (`none`
if neither dominates); a denial of a deal is `against` only when paired with continuing the war; target
words without a stance are `none`. The full guidelines are `docs/ANNOTATION.md` of the project.

## Annotation process and agreement

Every sentence of every source has at least two independent annotation passes. An annotator saw the
guidelines and the sentences (id and text) only: never another pass's labels, and for written
sentences never the writer's intended label. Each pass is kept as its own file
(`data/annotations/*.jsonl` for the seed, `data/sources/<source>/annotations/*.jsonl` for the others);
disagreements were adjudicated into one gold label with a recorded reason (`adjudication.jsonl`
beside them). The seed was labelled under version 1 of the guidelines (`annotator_a`, `annotator_b`)
and re-checked under version 2 by two more passes; where version 2 changes a gold label, the
adjudication file says why. Agreement, computed by `stancebench.corpus.annotation` from the pass files:

{_agreement_table(sets)}

{_agreement_comment(sets)}

**Who the annotators were.** Every pass, and the adjudication, was made by AI model sessions (the same
underlying language model, prompted independently), not by native-speaker human annotators. Passes
of one model share its biases, so the agreement above is very likely higher than two humans would
reach and must not be read as evidence of human-level reliability; the seed figures rest on
{len(seed.rows)} items. Human passes added with `stancebench label` are welcome and will be reported
the same way.

{''.join(_written_section(s) for s in written)}
## Real text kept upstream

{posts_text or 'None in this build.'}
## How to rebuild

```bash
python -m stancebench data build                      # everything; sources' text from their local copies
python -m stancebench data build --source NAME=PATH   # a source's text from another file
python -m stancebench data build --skip-source NAME   # without that source's text (its labels still count)
python -m stancebench data validate                   # checksums (SHA256SUMS, SHA256SUMS.upstream) and schema
```

The build is deterministic (same inputs, same bytes) and atomic (a failed build leaves the previous
folder in place). The committed files do not depend on whether text kept upstream was available.

## Source and licence

- `seed`: the Arabic version of a news article on the Russia-Ukraine war and the 2024 US presidential
  transition (the newsletter promotion at its top names the FT's "White House Watch"), from the
  project's seed corpus. Its copyright belongs to its publisher; it is not under an open licence and is
  included only as short sentences for non-commercial research on stance and sentiment.
{licence_lines}- The annotations, ids, offsets and code are released under the MIT licence.

## Known limitations

- The real test data is small: {len(seed.rows)} seed sentences on Russia-Ukraine{real_sizes}.
  Most FIGNEWS posts are war coverage, not talks: expect `none` to dominate there.
- The training split is written, not collected (see above): it can differ from real copy in ways no
  figure on this card measures.
- AI annotators and an AI adjudicator only; no human agreement study yet.
- One target ("{TARGET}"); stance is judged per sentence, without the rest of the document.
- Segmentation keeps a quotation together with its attribution, so some rows hold more than one
  grammatical sentence.
"""
    return _yaml_header(layout, n_rows, sizes or {}) + body
