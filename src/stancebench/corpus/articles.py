"""Seed corpus: reading articles and segmenting them into sentences.

Segmentation rules (documented for users in the dataset card):

* A sentence ends at ``.``, ``!``, ``?``, the Arabic question mark ``؟`` and at every line break
  (a ``.`` between two digits is a decimal point, not a sentence end).
* A quotation is kept whole with its attribution: sentence-final punctuation *inside* an open
  quotation (``“…”``, ``«…»`` or ASCII ``"…"``) does not end the sentence, because stance is judged
  on the sentence as written, including whom it quotes.  A second opening ``“`` inside an open
  quotation is taken as a new quotation (news copy often drops the closing mark), and a line break
  always closes every open quotation, so one missing mark never swallows more than one paragraph.
* Closing quotation marks and brackets that follow a sentence end stay with that sentence.
* Fragments made only of punctuation (``. .``) are dropped.
* Page furniture (newsletter promotions, "read more" lines) is flagged as boilerplate with the rule
  that matched; it stays on record but is kept out of the labelled set.

Sentence ids are ``<article_id>-<first 10 hex digits of sha1(text)>`` (with ``-2``, ``-3`` … for a
repeated identical sentence in the same article), so ids depend only on the sentence's own text:
re-running, reordering, or adding articles never renames an existing sentence.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

from stancebench.errors import UserError

SENTENCE_END = frozenset(".!?؟")
OPENING_QUOTES = frozenset("“«")
CLOSING_QUOTES = frozenset("”»")
TRAILING_CLOSERS = frozenset("”»\"')]}")

# Page furniture seen on Arabic news sites.  Each rule has a name that is kept with the segment.
BOILERPLATE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("newsletter", re.compile(r"النشرة\s+(الإخبارية|البريدية)|newsletter", re.IGNORECASE)),
    # "اشترك" and "سجل" are also the past tense ("took part", "recorded") and "مجانًا" an ordinary
    # adverb, so these two rules need the call to action: the verb opens the line and is followed by
    # what a promotion offers (now, free, your e-mail, our newsletter ...).
    (
        "subscribe",
        re.compile(
            r"^(اشترك|اشتركوا|سجّل|سجل|سجّلوا|سجلوا)\s+(الآن|مجان|دخولك|بريدك|لتصلك|ليصلك|لتلقي|للحصول"
            r"|في\s+(نشرتنا|النشرة|خدمة|قناتنا|موقعنا))|subscribe",
            re.IGNORECASE,
        ),
    ),
    ("free-offer", re.compile(r"^(افتح|احصل|جرّب|جرب|ابدأ|اقرأ|حمّل|سجّل|سجل|اشترك)\s.*مجان(ًا|اً|ا)(\W|$)")),
    ("guide-promo", re.compile(r"^دليلك\b")),
    ("read-more", re.compile(r"^(اقرأ|إقرأ|اقرا)\s+(المزيد|أيضا|أيضًا|أيضاً)|read more", re.IGNORECASE)),
    ("follow-us", re.compile(r"^(تابعنا|تابعونا)\b|follow us", re.IGNORECASE)),
)


@dataclass(frozen=True)
class Segment:
    """One sentence-level segment of an article, with its place in the source file."""

    id: str
    article_id: str
    index: int
    start: int
    end: int
    text: str
    boilerplate: bool
    boilerplate_rule: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Article:
    article_id: str
    path: Path
    text: str


def read_article(path: Path) -> Article:
    """Read one seed article; empty, binary or non-UTF-8 files are user errors."""
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise UserError(f"{path}: looks like a binary file (NUL byte); seed articles must be UTF-8 text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UserError(
            f"{path}:{line}: not valid UTF-8 (byte offset {exc.start}); re-save the article as UTF-8"
        ) from None
    if text.startswith("\ufeff"):
        raise UserError(f"{path}: starts with a byte-order mark; save it as UTF-8 without BOM so offsets stay exact")
    if not text.strip():
        raise UserError(f"{path}: the article is empty; remove the file or add its text")
    return Article(article_id=path.stem, path=path, text=text)


def read_corpus(seeds_dir: Path) -> list[Article]:
    """Every ``*.txt`` file of ``seeds_dir``, sorted by name."""
    seeds_dir = Path(seeds_dir)
    if not seeds_dir.is_dir():
        raise UserError(f"{seeds_dir}: seeds folder not found; pass --seeds PATH")
    paths = sorted(seeds_dir.glob("*.txt"))
    if not paths:
        raise UserError(f"{seeds_dir}: no .txt articles; add UTF-8 articles to it")
    return [read_article(p) for p in paths]


def _is_punctuation_only(text: str) -> bool:
    return all(unicodedata.category(ch)[0] in "PZS" for ch in text)


def _boilerplate_rule(text: str) -> str | None:
    for name, pattern in BOILERPLATE_RULES:
        if pattern.search(text):
            return name
    return None


# One-letter Arabic abbreviations of titles: "د." (doctor), "م." (engineer), "أ." (professor).
_ABBREVIATION = re.compile(r"(?:^|\s)[دمأ]$")


def _is_decimal_point(line: str, i: int) -> bool:
    """A ``.`` inside a token is no sentence end: ``3.5``, ``١.٥``, a link (``t.me/x``), a name
    broken up on purpose (``حمـ.ـاس``).  A sentence-final ``.`` is followed by a space, a line end,
    a closer or more punctuation."""
    if line[i] != "." or not 0 < i < len(line) - 1:
        return False
    before, after = line[i - 1], line[i + 1]
    if before.isdigit() and after.isdigit():
        return True
    if after == " " and _ABBREVIATION.search(line[: i]):
        return True
    return not before.isspace() and (after.isalnum() or after == "\u0640" or after == "/")


def _spans_in_line(line: str) -> list[tuple[int, int]]:
    """Character spans (start, end) of the sentences of one line, before trimming."""
    spans: list[tuple[int, int]] = []
    start = 0
    in_quote = False
    ascii_quote_open = False
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if line.startswith(("http://", "https://"), i):
            # A link is one token: its "." and "?" end no sentence.
            while i < n and not line[i].isspace():
                i += 1
            continue
        if ch in OPENING_QUOTES:
            in_quote = True
        elif ch in CLOSING_QUOTES:
            in_quote = False
        elif ch == '"':
            ascii_quote_open = not ascii_quote_open
        elif ch in SENTENCE_END and not in_quote and not ascii_quote_open and not _is_decimal_point(line, i):
            j = i + 1
            # Absorb runs like "?!" or "..." and closers that belong to this sentence.
            while j < n and (line[j] in SENTENCE_END or line[j] in TRAILING_CLOSERS):
                j += 1
            spans.append((start, j))
            start = j
            i = j
            continue
        i += 1
    if start < n:
        spans.append((start, n))
    return spans


def _sentence_id(article_id: str, text: str, seen: dict[str, int]) -> str:
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
    base = f"{article_id}-{digest}"
    seen[base] = seen.get(base, 0) + 1
    return base if seen[base] == 1 else f"{base}-{seen[base]}"


def segment_article(article: Article) -> list[Segment]:
    """Split an article into sentence segments with exact character offsets into its text."""
    segments: list[Segment] = []
    seen: dict[str, int] = {}
    offset = 0
    for line in article.text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        for s, e in _spans_in_line(body):
            piece = body[s:e]
            stripped = piece.strip()
            if not stripped or _is_punctuation_only(stripped):
                continue
            lead = len(piece) - len(piece.lstrip())
            start = offset + s + lead
            end = start + len(stripped)
            rule = _boilerplate_rule(stripped)
            segments.append(
                Segment(
                    id=_sentence_id(article.article_id, stripped, seen),
                    article_id=article.article_id,
                    index=len(segments),
                    start=start,
                    end=end,
                    text=stripped,
                    boilerplate=rule is not None,
                    boilerplate_rule=rule,
                )
            )
        offset += len(line)
    return segments


# ----------------------------------------------------------------------------- social posts
# News outlets' social-media posts carry furniture that article pages keep apart: a run of
# hashtags closing the post, a channel plug ("follow us on Telegram", a WhatsApp link), bare links.
# ``segment_post`` splits these off as boilerplate segments of their own, so the sentence keeps
# exact offsets and the furniture stays on record.
_BIDI = "\u200e\u200f\u202a-\u202e\u2066-\u2069"
_HASHTAG = rf"[{_BIDI}]*#[^\s#]+[{_BIDI}]*"
_TRAILING_HASHTAGS = re.compile(rf"(?:[\s|{_BIDI}]*{_HASHTAG})+[\s|{_BIDI}]*$")
_HASHTAGS_ONLY = re.compile(rf"^[\s|{_BIDI}]*(?:{_HASHTAG}[\s|{_BIDI}]*)+$")
_HASHTAG_SIGN = re.compile(rf"[#{_BIDI}]")
_URL = re.compile(r"https?://\S+|\b[\w.-]+\.(?:me|ly|com|net)/\S*")
_CHANNEL_PLUG = re.compile(
    r"(?:تابعونا|تابعوا|يمكنكم\s+متابعة|لمتابعة|للمتابعة|اشتركوا|اشترك|حمّلوا|حملوا|تفاصيل\s+أكثر|للمزيد)"
    r"(?=[^.؟!?]*(?:تلغرام|التلغرام|تيليجرام|واتساب|يوتيوب|تيك\s*توك|إنستغرام|فيسبوك|تطبيق|تعليق|https?://))"
)
_LINK_LABEL = re.compile(r"(?:(?<=[\s.،!؟?|])|^)[^\s.،!؟?|]*(?:\s+[^\s.،!؟?|]+){0,3}\s*[:|]\s*$|\W+$")
_GOVERNING_WORD = re.compile(r"(?:^|\s)(?:في|على|من|إلى|الى|عن|مع|بين|حول|ضد|عبر|نحو|داخل|و|ب|ل)\s*$")
# A short line that only tells the reader where to look or click: "للمزيد", "يتبع", "شاهدوا!",
# "لحظة بلحظة", "تابعوا آخر المستجدات ...", "اضغط على الرابط ...", "ما التفاصيل؟".
_CALL_TO_ACTION = re.compile(
    r"^[\W_]*(?:للمزيد|يتبع|لحظة\s+بلحظة|شاهدوا|شاهد\b|تابعوا\s+آخر|تابعونا|لقراءة|اضغط|اضغطوا"
    r"|يرجى\s+الضغط|في\s+نشرة\s+اليوم|تغطية\s+مباشرة|ما\s+التفاصيل|التفاصيل\b)"
)
POST_FURNITURE_RULES = ("hashtags", "channel-plug", "link", "not-arabic", "call-to-action")


def _mostly_not_arabic(text: str) -> bool:
    """Fewer than half of the letters are Arabic: an English or Hebrew line inside an Arabic post."""
    letters = [ch for ch in _URL.sub(" ", text) if ch.isalpha()]
    arabic = sum("\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f" for ch in letters)
    return bool(letters) and arabic < len(letters) / 2


def _post_pieces(text: str) -> list[tuple[int, int, str | None]]:
    """Split one sentence of a post into (start, end, boilerplate rule) pieces, in order."""
    if _mostly_not_arabic(text) and not _HASHTAGS_ONLY.match(text):
        return [(0, len(text), "link" if _URL.search(text) else "not-arabic")]
    if _HASHTAGS_ONLY.match(text):
        return [(0, len(text), "hashtags")]
    if _URL.fullmatch(text.strip()):
        return [(0, len(text), "link")]
    cut = len(text)
    rule: str | None = None
    plug = _CHANNEL_PLUG.search(text)
    link = _URL.search(text)
    if plug and plug.start() > 0:
        cut, rule = plug.start(), "channel-plug"
    elif link and link.start() > 0:
        # The link and the short label that leads into it ("التفاصيل:", "عبر الرابط:", "👈").
        label = _LINK_LABEL.search(text[: link.start()])
        cut, rule = (label.start() if label else link.start()), "link"
    else:
        tail = _TRAILING_HASHTAGS.search(text)
        # A closing hashtag that the sentence needs ("... الحرب على #غزة؟") is part of it: it ends
        # the sentence with its punctuation, or follows a preposition.
        if (
            tail
            and tail.start() > 0
            and text.rstrip()[-1] not in SENTENCE_END
            and not _GOVERNING_WORD.search(text[: tail.start()])
        ):
            cut, rule = tail.start(), "hashtags"
    head = text[:cut].rstrip()
    if rule is None or not head or _is_punctuation_only(head):
        if rule is None and len(text.split()) <= 12 and _CALL_TO_ACTION.match(_HASHTAG_SIGN.sub("", text)):
            return [(0, len(text), "call-to-action")]
        return [(0, len(text), rule if not head or _is_punctuation_only(head) else None)]
    lead = len(text[cut:]) - len(text[cut:].lstrip())
    # What precedes the furniture may be furniture too (a run of hashtags before a link).
    return [*_post_pieces(head), (cut + lead, len(text), rule)]


def segment_post(article: Article) -> list[Segment]:
    """``segment_article`` plus the furniture of social-media posts split off as boilerplate."""
    out: list[Segment] = []
    seen: dict[str, int] = {}
    for seg in segment_article(article):
        for s, e, rule in _post_pieces(seg.text):
            piece = seg.text[s:e]
            rule = rule or seg.boilerplate_rule
            out.append(
                Segment(
                    id=_sentence_id(article.article_id, piece, seen),
                    article_id=article.article_id,
                    index=len(out),
                    start=seg.start + s,
                    end=seg.start + e,
                    text=piece,
                    boilerplate=rule is not None,
                    boilerplate_rule=rule,
                )
            )
    return out


def segment_corpus(seeds_dir: Path) -> list[Segment]:
    """Segments of every article in ``seeds_dir``, article by article."""
    out: list[Segment] = []
    for article in read_corpus(seeds_dir):
        out.extend(segment_article(article))
    return out
