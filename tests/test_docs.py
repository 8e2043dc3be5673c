"""The docs site builds without a warning, and every local link and image of its pages resolves."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
sphinx_build = pytest.importorskip("sphinx.cmd.build", reason="the docs extra is not installed: pip install -e '.[docs]'")


class Links(HTMLParser):
    """The href and src attributes of a page, and the ids it defines."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.targets.append(value)
            elif name == "id" and value:
                self.ids.add(value)


def parse(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


def broken_links(site: Path) -> list[str]:
    """``page: target`` for every local link or image that names no file, or no id in its page."""
    site = site.resolve()
    pages = {path: parse(path) for path in site.rglob("*.html")}
    broken = []
    for page, links in pages.items():
        for target in links.targets:
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or target.startswith(("mailto:", "javascript:", "data:")):
                continue
            path = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if path.is_dir():
                path = path / "index.html"
            if not path.is_file():
                broken.append(f"{page.relative_to(site)}: {target}")
            elif parts.fragment and path.suffix == ".html" and parts.fragment not in pages[path].ids:
                broken.append(f"{page.relative_to(site)}: {target} (no such anchor)")
    return broken


def test_the_site_builds_without_warnings_and_its_local_links_resolve(tmp_path):
    site = tmp_path / "html"
    status = sphinx_build.build_main(["-W", "-q", "-E", "-b", "html", "-d", str(tmp_path / "doctrees"),
                                      str(ROOT / "docs"), str(site)])
    assert status == 0, "sphinx -W failed: a warning or error above"
    assert not broken_links(site)
    # what the pages must show: every study page its included table and figures, every option its row
    studies = (site / "studies" / "long_hopper.html").read_text()
    assert "Total CPU time of the finished runs: 35.6 hours" in studies  # the included results.md
    assert re.search(r'<img [^>]*src="[^"]*learning_curves[^"]*\.png"', studies)
    recipes = (site / "recipes.html").read_text()
    for option in ("loss.warm_start", "demos.action_noise", "checkpoint.keep_final", "stop.target_return", "study.cells"):
        assert f"<span class=\"pre\">{option}</span>" in recipes, option
    assert "gild_torchrl.objectives.gild.GILDLoss" in (site / "api.html").read_text()


def test_the_link_check_finds_a_broken_link_and_a_missing_anchor(tmp_path):
    (tmp_path / "a.html").write_text('<a href="b.html#here">b</a><img src="missing.png"><a id="top"></a>')
    (tmp_path / "b.html").write_text('<p id="elsewhere"></p><a href="a.html#top">a</a><a href="https://example.org/x">x</a>')
    assert sorted(broken_links(tmp_path)) == ["a.html: b.html#here (no such anchor)", "a.html: missing.png"]


def test_the_api_reference_has_every_module_of_the_package():
    """A new module gets its section in docs/api.md (package ``__init__`` files re-export, so they are left out)."""
    documented = set(re.findall(r"automodule:: (\S+)", (ROOT / "docs" / "api.md").read_text(encoding="utf-8")))
    modules = {".".join(path.relative_to(ROOT).with_suffix("").parts)
               for path in (ROOT / "gild_torchrl").rglob("*.py") if path.name != "__init__.py"}
    assert modules - documented == set(), "modules missing from docs/api.md"
    assert documented - modules == set(), "docs/api.md names modules that do not exist"
