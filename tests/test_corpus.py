"""Seed reading and Arabic sentence segmentation (issue item 3)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from stancebench.corpus.articles import (
    Article,
    read_article,
    read_corpus,
    segment_article,
    segment_corpus,
)
from stancebench.errors import UserError

from conftest import COMMITTED_DATASET, SEED_ARTICLE_ID, SEED_FILE, SEEDS

SEED_TEXT = SEED_FILE.read_text(encoding="utf-8")  # no newline translation: "\n" only in the seed


def segments_of(text: str, article_id: str = "t") -> list:
    return segment_article(Article(article_id, Path(f"{article_id}.txt"), text))


def texts_of(text: str) -> list[str]:
    return [s.text for s in segments_of(text)]


@pytest.fixture(scope="module")
def seed_segments():
    return segment_article(read_article(SEED_FILE))


def _one_containing(segments, fragment: str):
    found = [s for s in segments if fragment in s.text]
    assert len(found) == 1, f"{fragment!r} is in {len(found)} segments"
    return found[0]


# ----------------------------------------------------------------- the real seed


def test_seed_has_fifteen_segments_numbered_in_order(seed_segments):
    assert len(seed_segments) == 15
    assert [s.index for s in seed_segments] == list(range(15))
    assert {s.article_id for s in seed_segments} == {SEED_ARTICLE_ID}


def test_every_segment_gives_itself_back_from_its_offsets(seed_segments):
    for seg in seed_segments:
        assert SEED_TEXT[seg.start : seg.end] == seg.text


def test_segments_are_trimmed_and_in_source_order(seed_segments):
    for seg in seed_segments:
        assert seg.text == seg.text.strip() and seg.text
    ends = [(s.start, s.end) for s in seed_segments]
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(ends, ends[1:]))


def test_trump_quotation_stays_one_segment_with_its_attribution(seed_segments):
    seg = _one_containing(seed_segments, "الرئيس بوتين يريد الاجتماع")
    assert seg.text.startswith("وردا على سؤال بشأن قمة محتملة")
    assert "قال ترامب بعد اجتماع مع حكام الولايات الجمهوريين" in seg.text
    assert "(أوكرانيا). انتهت الحرب، هذه فوضى دموية”." in seg.text
    assert seg.text.endswith("هذه فوضى دموية”.")


def test_quotation_after_colon_is_kept_with_the_speaker(seed_segments):
    seg = _one_containing(seed_segments, "يبدو أنه سيتم إحراز بعض التقدم")
    assert seg.text == "وأضاف: “يبدو أنه سيتم إحراز بعض التقدم بعد تولي السيد ترامب المكتب البيضاوي”."


def test_closing_quote_and_full_stop_stay_with_their_sentence(seed_segments):
    seg = _one_containing(seed_segments, "انفتاحه على الاتصالات")
    assert seg.text.endswith("ودونالد ترامب”.")


def test_stray_full_stop_after_fi_al_sharq_makes_no_segment(seed_segments):
    seg = _one_containing(seed_segments, "عمليات الانتشار في الشرق")
    assert seg.text.endswith("عمليات الانتشار في الشرق.")
    following = seed_segments[seg.index + 1]
    assert following.text.startswith("وأضاف: “إنه يريد تغيير قواعد النظام الدولي")
    assert SEED_TEXT[seg.end : following.start] == " .\n"  # the ". ." leftover is skipped, not kept


def test_no_segment_is_punctuation_only(seed_segments):
    for seg in seed_segments:
        assert re.search(r"\w", seg.text), seg.text


def test_first_two_lines_are_boilerplate_with_their_rule(seed_segments):
    first, second = seed_segments[0], seed_segments[1]
    assert first.text == "افتح النشرة الإخبارية لـ White House Watch مجانًا"
    assert (first.boilerplate, first.boilerplate_rule) == (True, "newsletter")
    assert second.text == "دليلك لما تعنيه الانتخابات الأمريكية لعام 2024 لواشنطن والعالم"
    assert (second.boilerplate, second.boilerplate_rule) == (True, "guide-promo")


def test_news_sentences_are_not_boilerplate(seed_segments):
    news = seed_segments[2:]
    assert len(news) == 13
    assert all(not s.boilerplate and s.boilerplate_rule is None for s in news)


def test_boilerplate_is_kept_in_segments_but_out_of_the_labelled_set():
    with open(COMMITTED_DATASET / "data" / "segments.jsonl", encoding="utf-8") as f:
        segment_rows = [json.loads(line) for line in f]
    with open(COMMITTED_DATASET / "data" / "sentences.jsonl", encoding="utf-8") as f:
        labelled_ids = {json.loads(line)["id"] for line in f}
    boilerplate = [r for r in segment_rows if r["boilerplate"]]
    assert [r["boilerplate_rule"] for r in boilerplate] == ["newsletter", "guide-promo"]
    assert not labelled_ids & {r["id"] for r in boilerplate}
    assert labelled_ids == {r["id"] for r in segment_rows if not r["boilerplate"]}


def test_committed_segments_match_a_fresh_segmentation(seed_segments):
    with open(COMMITTED_DATASET / "data" / "segments.jsonl", encoding="utf-8") as f:
        committed = [json.loads(line) for line in f]
    assert committed == [s.to_dict() for s in seed_segments]


# ----------------------------------------------------------------- sentence ends (made-up strings)


def test_arabic_question_mark_ends_a_sentence():
    assert texts_of("هل انتهت الحرب؟ لا أحد يعرف.") == ["هل انتهت الحرب؟", "لا أحد يعرف."]


def test_exclamation_mark_ends_a_sentence():
    assert texts_of("يا لها من كارثة! وصلت المساعدات.") == ["يا لها من كارثة!", "وصلت المساعدات."]


def test_latin_question_mark_ends_a_sentence():
    assert texts_of("هل يلتقيان? ربما.") == ["هل يلتقيان?", "ربما."]


def test_a_run_of_end_marks_stays_together():
    assert texts_of("حقا؟! نعم... بالطبع.") == ["حقا؟!", "نعم...", "بالطبع."]


def test_line_breaks_end_sentences_even_without_punctuation():
    assert texts_of("عنوان بلا نقطة\nسطر ثان\nسطر ثالث") == ["عنوان بلا نقطة", "سطر ثان", "سطر ثالث"]


def test_windows_line_breaks_end_sentences_and_keep_offsets_exact():
    text = "السطر الأول.\r\nالسطر الثاني\r\n\r\nالسطر الثالث؟"
    segments = segments_of(text)
    assert [s.text for s in segments] == ["السطر الأول.", "السطر الثاني", "السطر الثالث؟"]
    assert all(text[s.start : s.end] == s.text for s in segments)


def test_offsets_are_exact_with_leading_spaces_and_blank_lines():
    text = "\n\n   قال الوزير إن المحادثات ستستأنف.    وأكد ذلك المتحدث!  \n\t  ثم غادر؟"
    segments = segments_of(text)
    assert [s.text for s in segments] == ["قال الوزير إن المحادثات ستستأنف.", "وأكد ذلك المتحدث!", "ثم غادر؟"]
    assert all(text[s.start : s.end] == s.text for s in segments)


def test_punctuation_only_fragments_are_dropped():
    assert texts_of("انتهى الاجتماع. . ! ؟\n. . .\n«»\nبدأ اجتماع آخر.") == ["انتهى الاجتماع.", "بدأ اجتماع آخر."]


def test_full_stop_inside_guillemets_does_not_end_the_sentence():
    assert texts_of("قال: «نحن مستعدون. الحرب يجب أن تنتهي». ثم غادر.") == [
        "قال: «نحن مستعدون. الحرب يجب أن تنتهي».",
        "ثم غادر.",
    ]


def test_full_stop_inside_ascii_quotes_does_not_end_the_sentence():
    assert texts_of('قال "نعم. لا" ثم غادر. انتهى.') == ['قال "نعم. لا" ثم غادر.', "انتهى."]


def test_line_break_closes_an_unclosed_quotation():
    assert texts_of("قال: “نحن مستعدون. للحوار\nانتهت الجلسة. وغادر الوفد.") == [
        "قال: “نحن مستعدون. للحوار",
        "انتهت الجلسة.",
        "وغادر الوفد.",
    ]


def test_decimal_point_does_not_end_a_sentence():
    assert texts_of("ارتفعت الأسعار بنسبة 3.5 في المئة. وقال الوزير ذلك.") == [
        "ارتفعت الأسعار بنسبة 3.5 في المئة.",
        "وقال الوزير ذلك.",
    ]
    assert texts_of("بلغت النسبة ٢.٧ بالمئة.") == ["بلغت النسبة ٢.٧ بالمئة."]


# ----------------------------------------------------------------- boilerplate rules (made-up strings)


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("اشترك في النشرة البريدية", "newsletter"),
        ("اشترك الآن", "subscribe"),
        ("سجّل مجانًا.", "subscribe"),
        ("احصل على التطبيق مجانًا", "free-offer"),
        ("اقرأ أيضاً: بوتين يرحب بالمحادثات", "read-more"),
        ("تابعنا على تويتر", "follow-us"),
    ],
)
def test_page_furniture_is_flagged_with_its_rule(line, rule):
    (seg,) = segments_of(line)
    assert (seg.boilerplate, seg.boilerplate_rule) == (True, rule)


@pytest.mark.parametrize(
    "sentence",
    [
        "سجل الجيش الروسي تقدما جديدا في دونيتسك.",  # "recorded"
        "اشترك في المحادثات وفد من أوكرانيا.",  # "took part in the talks"
        "وقد اشترك في الاجتماع ممثلون عن الأمم المتحدة.",
        "توزع المنظمة المساعدات مجانًا على النازحين.",  # "free of charge"
    ],
)
def test_news_sentences_with_promo_words_are_not_boilerplate(sentence):
    (seg,) = segments_of(sentence)
    assert not seg.boilerplate and seg.boilerplate_rule is None


# ----------------------------------------------------------------- ids


def test_id_is_article_id_and_sha1_of_the_text(seed_segments):
    for seg in seed_segments:
        digest = hashlib.sha1(seg.text.encode("utf-8")).hexdigest()[:10]
        assert seg.id == f"{SEED_ARTICLE_ID}-{digest}"


def test_ids_are_unique_and_stable_across_runs(seed_segments):
    again = segment_corpus(SEEDS)
    assert [s.id for s in again] == [s.id for s in seed_segments]
    assert len({s.id for s in seed_segments}) == len(seed_segments)


def test_repeated_identical_sentence_gets_a_numbered_id():
    first, second, third = segments_of("لا تعليق.\nلا تعليق.\nلا تعليق.", article_id="a")
    assert second.id == f"{first.id}-2" and third.id == f"{first.id}-3"


def test_inserting_a_sentence_does_not_rename_the_others():
    before = segments_of("قال بوتين إنه مستعد. وقال ترامب إنه يستعد.", article_id="a")
    after = segments_of("خبر عاجل.\nقال بوتين إنه مستعد. وقال ترامب إنه يستعد.", article_id="a")
    assert {s.id for s in before} < {s.id for s in after}


def test_adding_an_article_keeps_every_existing_id_and_offset(tmp_path):
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    before = segment_corpus(seeds)
    (seeds / "001_added.txt").write_text(
        "قال الرئيس الأوكراني إن كييف مستعدة للمحادثات.\nوأضاف: “لن نتخلى عن أرضنا. السلام يجب أن يكون عادلا”.\n",
        encoding="utf-8",
    )
    (seeds / "0000_sorted_first.txt").write_text("رحبت الأمم المتحدة بالمبادرة.", encoding="utf-8")
    after = segment_corpus(seeds)
    assert len(after) == len(before) + 3
    by_id = {s.id: s for s in after}
    for seg in before:
        assert by_id[seg.id] == seg  # same article, index, offsets, text and flags


# ----------------------------------------------------------------- bad seed files


def test_empty_seed_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(UserError, match=re.escape(str(path)) + ".*empty"):
        read_article(path)


def test_whitespace_only_seed_is_empty(tmp_path):
    path = tmp_path / "blank.txt"
    path.write_text(" \n\n\t\n", encoding="utf-8")
    with pytest.raises(UserError, match="empty"):
        read_article(path)


def test_non_utf8_seed_names_the_file_and_line(tmp_path):
    path = tmp_path / "cp1256.txt"
    path.write_bytes("سطر أول سليم\n".encode("utf-8") + "سطر بترميز ويندوز".encode("cp1256") + b"\n")
    with pytest.raises(UserError) as err:
        read_article(path)
    assert str(err.value).startswith(f"{path}:2: not valid UTF-8")


def test_binary_seed_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(UserError) as err:
        read_article(path)
    assert str(err.value).startswith(f"{path}: ") and "binary" in str(err.value)


def test_byte_order_mark_is_refused_because_it_shifts_offsets(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffقال الكرملين.".encode("utf-8"))
    with pytest.raises(UserError, match="byte-order mark"):
        read_article(path)


def test_missing_seeds_folder_is_an_error(tmp_path):
    with pytest.raises(UserError, match="seeds folder not found"):
        read_corpus(tmp_path / "nowhere")


def test_seeds_folder_without_articles_is_an_error(tmp_path):
    with pytest.raises(UserError, match="no .txt articles"):
        read_corpus(tmp_path)


def test_error_messages_are_one_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UserError) as err:
        read_article(path)
    assert "\n" not in str(err.value)
