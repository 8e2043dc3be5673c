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


def table_rows(text: str, key: str) -> dict[str, dict[str, str]]:
    """The rows of the first Markdown table in ``text`` whose header has ``key``, by that column."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = next(i for i, line in enumerate(lines) if f"| {key} |" in line)
    names = [cell.strip() for cell in lines[header].strip("|").split("|")]
    rows = {}
    for line in lines[header + 2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) != len(names):
            break
        rows[cells[names.index(key)]] = dict(zip(names, cells))
    return rows


def test_the_readme_results_table_is_the_long_hopper_analysis():
    """Each number of the README's results table is the analysis's, read from the committed tables."""
    readme = table_rows((ROOT / "README.md").read_text(), "setting")
    studies = ROOT / "docs" / "studies"
    at_300k = {row["setting"]: row for row in table_rows((studies / "long_hopper/analysis/results.md").read_text(), "setting").values()}
    at_1e6 = table_rows((studies / "long_hopper_1e6/analysis/results.md").read_text(), "setting")
    assert len(readme) == len(at_300k) == 6
    for label, row in readme.items():
        setting = label.split("`")[1]
        dense = at_300k[setting]["final dense: mean, IQM [95% CI]"].split(", ", 1)
        sparse = at_300k[setting]["final sparse: mean, IQM [95% CI]"].split(", ", 1)
        assert row["final at 300k"] == f"{dense[0]} / {sparse[0]}"
        assert row["IQM of the final dense [95% CI]"] == dense[1]
        assert row["runs ending above the demonstrator"] == at_300k[setting]["final dense above the demonstrator (runs)"]
        assert row["frames to the demonstrator (median; runs)"] == at_300k[setting]["frames to demonstrator (median; runs)"]
        if setting in at_1e6:
            final = [at_1e6[setting][f"final {kind}: mean, IQM [95% CI]"].split(", ")[0] for kind in ("dense", "sparse")]
            assert row["seed 0 at 1e6 frames"] == " / ".join(final)
        else:
            assert row["seed 0 at 1e6 frames"] == ""
