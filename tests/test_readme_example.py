"""The README's composition example is the file it names, the docs show both examples from their files,
and they train what they say they train."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_is_the_example_file_and_runs(capsys):
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- example: (\S+) -->\n```python\n(.*?)```", readme, re.S)
    assert match, "README lost its composition example"
    path, code = ROOT / match.group(1), match.group(2)
    assert code == path.read_text(), "README example and examples/ file differ"

    torch.manual_seed(0)
    namespace = runpy.run_path(str(path), run_name="readme_example")
    loss = namespace["loss"]
    assert loss.num_updates == 4 and loss.num_guided_updates == 2  # TD3: actor on updates 0 and 2
    assert loss.warm_start_updates == 5_000  # 1% of 1e6 updates, in actor updates
    assert capsys.readouterr().out.count("meta utility") == 2
    # every optimizer's parameters moved: the actor, both critics and the GILD network
    for optimizer in namespace["optimizers"]:
        state = optimizer.state_dict()["state"]
        assert state and all(int(s["step"]) >= 2 for s in state.values())


def test_every_file_the_readme_shows_is_in_the_repository():
    """Figures (![..](path)) and linked files of the README exist, so a fresh clone renders it."""
    import re

    readme = (ROOT / "README.md").read_text()
    paths = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert paths, "the README shows no figure"
    for path in paths:
        assert (ROOT / path).is_file(), path


def test_docs_show_both_examples_from_their_files():
    """The losses page includes both examples from examples/ (not copies), after the README's first."""
    page = (ROOT / "docs" / "losses.md").read_text()
    shown = re.findall(r"```\{literalinclude\} \.\./(\S+)", page)
    assert shown == ["examples/gild_in_your_pipeline.py", "examples/gild_own_policy_delay.py"]
    assert all((ROOT / path).is_file() for path in shown)


def test_second_example_runs_the_delay_in_the_callers_loop(capsys):
    path = ROOT / "examples" / "gild_own_policy_delay.py"
    torch.manual_seed(0)
    namespace = runpy.run_path(str(path), run_name="readme_example")
    loss = namespace["loss"]
    # six updates, the actor on updates 0, 2 and 4; the no_grad previews after each moved nothing
    assert loss.num_updates == 6 and loss.num_guided_updates == 3
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["1", "1", "2", "2", "3", "3"]
