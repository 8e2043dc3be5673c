"""Each committed study's tables are what the analysis makes of its committed record today."""

import shlex
import warnings
from pathlib import Path

import pytest

from gild_torchrl.analysis.__main__ import COMMAND_FILE, StudyWarning, parser, study_table, table_options

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = sorted((ROOT / "docs" / "studies").glob(f"*/analysis/{COMMAND_FILE}"))


def test_the_recorded_studies_say_how_their_tables_were_made():
    names = {path.parents[1].name for path in COMMANDS}
    recorded = {path.parents[1].name for path in (ROOT / "docs" / "studies").glob("*/*/run.json")}
    assert recorded and recorded <= names  # every study with a record has its command


@pytest.mark.parametrize("command", COMMANDS, ids=lambda path: path.parents[1].name)
def test_results_md_is_regenerated_from_the_record(command, monkeypatch):
    words = shlex.split(command.read_text())
    assert words[:3] == ["python", "-m", "gild_torchrl.analysis"]
    args = parser().parse_args(words[3:])
    monkeypatch.chdir(ROOT)  # the command's paths are the repository's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StudyWarning)
        table = study_table(args.study_dir, **table_options(args))["table"]
    assert table == (command.parent / "results.md").read_text()
