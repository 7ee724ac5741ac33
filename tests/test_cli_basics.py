"""The command line: help, speed of --help, light imports, errors as one line."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from stancebench.cli import COMMANDS
from stancebench.corpus.articles import segment_corpus

from conftest import SEEDS

HEAVY_MODULES = ("torch", "mlflow", "transformers", "datasets", "hydra", "sklearn", "pandas", "numpy")


def test_help_lists_every_command(run_cli):
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("train", "data", "label", "ui", "report", "predict"):
        assert f"  {command} " in result.stdout
    assert set(COMMANDS) == {"train", "data", "label", "ui", "report", "predict"}


def test_help_answers_in_under_half_a_second():
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "stancebench", "--help"], capture_output=True, text=True)
        timings.append(time.perf_counter() - start)
        assert result.returncode == 0
    assert min(timings) < 0.5, timings


def test_help_imports_no_heavy_library():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "stancebench", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "stancebench.cli" in imported
    loaded_heavy = {m for m in imported if m.split(".")[0] in HEAVY_MODULES}
    assert loaded_heavy == set()


def test_importing_the_cli_leaves_heavy_libraries_unloaded():
    code = (
        "import sys, json, stancebench.cli, stancebench.errors;"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {list(HEAVY_MODULES)!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert json.loads(result.stdout) == []


def test_no_command_prints_usage_and_fails(run_cli):
    result = run_cli()
    assert result.returncode == 2
    assert result.stdout.startswith("usage: stancebench <command>")


def test_unknown_command_is_one_line_with_a_suggestion(run_cli):
    result = run_cli("lable")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "stancebench: unknown command 'lable' (did you mean 'label'?); run `stancebench --help`"
    ]


def test_version(run_cli):
    result = run_cli("--version")
    assert (result.returncode, result.stdout.strip()) == (0, "stancebench 0.1.0")


def test_data_help_lists_its_actions(run_cli):
    result = run_cli("data", "--help")
    assert result.returncode == 0
    for action in ("build", "validate", "publish", "segments"):
        assert action in result.stdout


def test_data_segments_prints_every_segment_as_json(run_cli):
    result = run_cli("data", "segments", "--seeds", SEEDS)
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert printed == [s.to_dict() for s in segment_corpus(SEEDS)]


def test_data_segments_of_a_missing_folder_is_one_line(run_cli, tmp_path):
    result = run_cli("data", "segments", "--seeds", tmp_path / "nope")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"stancebench data: error: {tmp_path / 'nope'}: seeds folder not found; pass --seeds PATH"
    ]


def test_data_build_of_a_folder_without_seeds_writes_nothing(run_cli, tmp_path):
    result = run_cli("data", "build", "--root", tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "seeds folder not found" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_command_exits_130_and_ignores_a_late_second_sigint():
    # The command's own cleanup is done when main() returns 130; a SIGINT after that (Ctrl-C twice,
    # or one re-raised by a library) must not kill the exiting interpreter with signal 2.
    code = (
        "import atexit, os, signal, sys\n"
        "from stancebench import cli\n"
        "def interrupted(rest):\n"
        "    raise KeyboardInterrupt\n"
        "cli.HANDLERS['data'] = interrupted\n"
        "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))\n"
        "sys.argv = ['stancebench', 'data']\n"
        "cli.entry()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip() == "stancebench data: interrupted"
