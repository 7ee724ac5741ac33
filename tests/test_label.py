"""The terminal labelling tool, driven as a user would: keys in, screen out, answers on disk."""

from __future__ import annotations

import io
import json
import shutil
import signal
import time
from pathlib import Path

import pexpect
import pytest

from stancebench.corpus.annotation import read_annotator_file
from stancebench.corpus.articles import segment_corpus
from stancebench.corpus.label import KEYS, AnswerLog, run_labelling

from conftest import ANNOTATIONS

SCREEN_END = r"\[q\] quit"


@pytest.fixture
def labelled(project):
    """The seed's labelled sentences (boilerplate left out), in order."""
    return [s for s in segment_corpus(project / "seeds") if not s.boilerplate]


def screen(child: pexpect.spawn) -> str:
    """The next full screen the tool draws."""
    child.expect(SCREEN_END)
    return child.before.rsplit("\x1b[2J\x1b[H", 1)[-1]


def shown_sentence(text: str) -> str:
    return next(line[3:] for line in text.splitlines() if line.startswith(">> "))


def records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def wait_for_records(path: Path, count: int, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = records(path)
        if len(found) >= count:
            return found
        time.sleep(0.02)
    return records(path)


def answer(child: pexpect.spawn, keys: str) -> str:
    """Press each key, waiting for the screen it brings; returns the last screen."""
    text = ""
    for key in keys:
        child.send(key)
        text = screen(child)
    return text


# ----------------------------------------------------------------- keys and screen


def test_digit_keys_choose_the_labels_of_each_dimension():
    assert KEYS == {
        "stance": {"1": "favor", "2": "against", "3": "none"},
        "sentiment": {"1": "positive", "2": "negative", "3": "neutral"},
    }


def test_first_screen_shows_the_first_sentence_with_its_neighbour(spawn, labelled):
    text = screen(spawn())
    assert shown_sentence(text) == labelled[0].text
    assert f"after:  {labelled[1].text}" in text
    assert "before: -" in text
    assert "STANCE toward 'peace talks'" in text
    assert "labelled 0/13" in text
    assert "White House Watch" not in text  # boilerplate is not offered for labelling


def test_each_answer_is_on_disk_as_soon_as_the_key_is_pressed(spawn, project, labelled):
    child = spawn()
    log = project / "ann" / "tester.jsonl"
    screen(child)
    child.send("1")
    assert wait_for_records(log, 1) == [{"id": labelled[0].id, "stance": "favor"}]
    text = screen(child)
    assert shown_sentence(text) == labelled[0].text
    assert "SENTIMENT" in text and "stance=favor" in text
    child.send("3")
    assert wait_for_records(log, 2)[1] == {"id": labelled[0].id, "sentiment": "neutral"}
    text = screen(child)
    assert shown_sentence(text) == labelled[1].text
    assert f"before: {labelled[0].text}" in text and "labelled 1/13" in text


def test_skip_moves_to_the_next_sentence_without_writing(spawn, project, labelled):
    child = spawn()
    screen(child)
    text = answer(child, "s")
    assert shown_sentence(text) == labelled[1].text
    assert not (project / "ann" / "tester.jsonl").exists()


def test_undo_retracts_the_last_answer_and_the_sentence_comes_back(spawn, project, labelled):
    child = spawn()
    log = project / "ann" / "tester.jsonl"
    screen(child)
    answer(child, "13")
    child.send("u")
    assert wait_for_records(log, 3)[2] == {"id": labelled[0].id, "retract": ["sentiment"]}
    text = screen(child)
    assert shown_sentence(text) == labelled[0].text and "SENTIMENT" in text
    answer(child, "2")
    final = read_annotator_file(log)
    assert final.labels == {"stance": {labelled[0].id: "favor"}, "sentiment": {labelled[0].id: "negative"}}


def test_undo_after_a_skip_brings_back_the_previous_sentence(spawn, project, labelled):
    child = spawn()
    screen(child)
    answer(child, "13")
    text = answer(child, "su")
    assert shown_sentence(text) == labelled[0].text and "SENTIMENT" in text


def test_unknown_key_changes_nothing(spawn, project, labelled):
    child = spawn()
    screen(child)
    text = answer(child, "x")
    assert shown_sentence(text) == labelled[0].text and "STANCE" in text
    assert not (project / "ann" / "tester.jsonl").exists()


def test_quit_exits_with_status_zero(spawn):
    child = spawn()
    screen(child)
    child.send("q")
    child.expect("Stopped. 0/13 labelled")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_keys_typed_ahead_are_not_lost(spawn, project, labelled):
    child = spawn()
    screen(child)
    child.send("1321")
    found = wait_for_records(project / "ann" / "tester.jsonl", 4)
    assert found == [
        {"id": labelled[0].id, "stance": "favor"},
        {"id": labelled[0].id, "sentiment": "neutral"},
        {"id": labelled[1].id, "stance": "against"},
        {"id": labelled[1].id, "sentiment": "positive"},
    ]


# ----------------------------------------------------------------- durability and resume


def test_kill_9_loses_no_answer_and_the_next_start_resumes_where_it_stopped(spawn, project, labelled):
    log = project / "ann" / "tester.jsonl"
    child = spawn()
    screen(child)
    answer(child, "13" "21" "33")
    child.kill(signal.SIGKILL)
    child.expect(pexpect.EOF)
    assert records(log) == [
        {"id": labelled[0].id, "stance": "favor"},
        {"id": labelled[0].id, "sentiment": "neutral"},
        {"id": labelled[1].id, "stance": "against"},
        {"id": labelled[1].id, "sentiment": "positive"},
        {"id": labelled[2].id, "stance": "none"},
        {"id": labelled[2].id, "sentiment": "neutral"},
    ]
    text = screen(spawn())
    assert shown_sentence(text) == labelled[3].text
    assert "labelled 3/13" in text and "STANCE" in text


def test_restart_after_a_half_labelled_sentence_asks_for_the_missing_dimension(spawn, project, labelled):
    child = spawn()
    screen(child)
    child.send("2")
    wait_for_records(project / "ann" / "tester.jsonl", 1)
    child.kill(signal.SIGKILL)
    text = screen(spawn())
    assert shown_sentence(text) == labelled[0].text
    assert "SENTIMENT" in text and "stance=against" in text


def test_two_annotators_labelling_at_once_both_keep_every_answer(spawn, project, labelled):
    alice, bob = spawn("alice"), spawn("bob")
    screen(alice), screen(bob)
    for a_key, b_key in zip("131211", "223313"):
        answer(alice, a_key)
        answer(bob, b_key)
    alice.send("q"), bob.send("q")
    alice.expect(pexpect.EOF), bob.expect(pexpect.EOF)
    ids = [s.id for s in labelled]
    a = read_annotator_file(project / "ann" / "alice.jsonl", ids).labels
    b = read_annotator_file(project / "ann" / "bob.jsonl", ids).labels
    assert a["stance"] == {ids[0]: "favor", ids[1]: "favor", ids[2]: "favor"}
    assert a["sentiment"] == {ids[0]: "neutral", ids[1]: "negative", ids[2]: "positive"}
    assert b["stance"] == {ids[0]: "against", ids[1]: "none", ids[2]: "favor"}
    assert b["sentiment"] == {ids[0]: "negative", ids[1]: "neutral", ids[2]: "neutral"}


def test_annotator_with_everything_labelled_is_told_so(spawn, project):
    (project / "ann").mkdir()
    shutil.copy(ANNOTATIONS / "annotator_a.jsonl", project / "ann" / "tester.jsonl")
    child = spawn()
    child.expect("Nothing left to label for tester: 13/13 labelled")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", ["../escape", "two words", "", "-dash-first"])
def test_bad_annotator_name_is_a_one_line_error(run_cli, project, name):
    result = run_cli("label", f"--annotator={name}", "--seeds", project / "seeds", "--annotations", project / "ann")
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "--annotator" in lines[0]
    assert not (project / "ann").exists()


def test_corrupt_annotation_file_is_reported_before_any_screen(run_cli, project):
    (project / "ann").mkdir()
    (project / "ann" / "tester.jsonl").write_text('{"id": "nope", "stance": "favor"}\n', encoding="utf-8")
    result = run_cli("label", "--annotator", "tester", "--seeds", project / "seeds", "--annotations", project / "ann")
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"stancebench label: error: {project / 'ann' / 'tester.jsonl'}:1: unknown sentence id 'nope'; "
        "ids come from `stancebench data segments`"
    ]


# ----------------------------------------------------------------- without a terminal


def test_labelling_loop_reads_keys_and_writes_answers(project, labelled):
    keys = iter("x1s3q")  # unknown key, favor, skip the rest of sentence 1, none for sentence 2, quit
    summary = run_labelling("tester", project / "seeds", project / "ann", lambda: next(keys), io.StringIO())
    assert summary == {"answered": 2, "labelled": 0, "total": 13, "skipped": 1}
    assert records(project / "ann" / "tester.jsonl") == [
        {"id": labelled[0].id, "stance": "favor"},
        {"id": labelled[1].id, "stance": "none"},
    ]


def test_end_of_input_stops_like_quit(project):
    summary = run_labelling("tester", project / "seeds", project / "ann", lambda: "", io.StringIO())
    assert summary["answered"] == 0


def test_appending_to_a_hand_edited_file_without_final_newline_keeps_lines_apart(tmp_path, labelled):
    path = tmp_path / "tester.jsonl"
    path.write_text(json.dumps({"id": labelled[0].id, "stance": "favor"}), encoding="utf-8")
    AnswerLog(path, [s.id for s in labelled]).append({"id": labelled[0].id, "sentiment": "neutral"})
    assert read_annotator_file(path).complete_ids() == {labelled[0].id}
