"""``config-reference``: a table of every option of a recipe config, read from the YAML and its comments.

The reference is built from the config file at each build, so it cannot drift from it: an option
without a comment (or, with ``:base:``, without one in the base config either) fails the build, and
so does a key of the loaded config that the line reader missed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from omegaconf import DictConfig, OmegaConf
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w]*):(?P<rest>.*)$")
COMMENT = re.compile(r"^(?P<indent> *)#(?P<text>.*)$")


@dataclass
class Option:
    """One key of the file: its dotted name, the default as written, what its comment says."""

    name: str
    default: str | None  # None: a section
    meaning: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # a section's own comment lines


def split_comment(rest: str) -> tuple[str, str | None]:
    """``value  # comment`` -> (value, comment); a ``#`` inside quotes is part of the value."""
    quote = None
    for i, char in enumerate(rest):
        if char in "'\"":
            quote = None if quote == char else (quote or char)
        elif char == "#" and quote is None and (i == 0 or rest[i - 1].isspace()):
            return rest[:i].strip(), rest[i + 1:].strip()
    return rest.strip(), None


def read_options(path: Path) -> tuple[list[str], list[Option]]:
    """The file's leading comment and its keys in order, each with its comment lines."""
    header: list[str] = []
    options: list[Option] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the open sections
    last: Option | None = None  # the key whose inline comment a comment-only line may continue
    last_comment_col = -1
    pending: list[str] = []  # comment-only lines that introduce what follows
    for line in path.read_text().splitlines():
        if not line.strip():
            last = None
            continue
        comment = COMMENT.match(line)
        if comment:
            text = comment["text"].strip()
            if last is not None and len(comment["indent"]) == last_comment_col:
                last.meaning.append(text)
            elif not options and not stack:
                header.append(text)
            else:
                pending.append(text)
            continue
        match = KEY.match(line)
        if not match:  # a list item or a continued value
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        name = ".".join([key for _, key in stack] + [match["key"]])
        value, text = split_comment(match["rest"])
        option = Option(name, value if value else None)
        if text:
            option.meaning.append(text)
        if pending:
            owner = option if option.default is None else next(
                (o for o in reversed(options) if o.default is None and name.startswith(o.name + ".")), option)
            owner.notes.extend(pending)
            pending = []
        options.append(option)
        if option.default is None:
            stack.append((indent, match["key"]))
        last = option if text else None
        last_comment_col = line.index("#", len(line) - len(match["rest"])) if text else -1
    return header, options


def leaf_keys(cfg: DictConfig, prefix: str = "") -> list[str]:
    """Every leaf key of a loaded config, dotted (interpolations left unresolved)."""
    keys = []
    for key in cfg.keys():
        value = cfg._get_node(key)
        name = f"{prefix}{key}"
        if isinstance(value, DictConfig) and len(value):
            keys += leaf_keys(value, name + ".")
        else:
            keys.append(name)
    return keys


def options_of(path: Path, skip: tuple[str, ...], base: Path | None) -> tuple[list[str], list[Option]]:
    """The file's options with a meaning each (from the base config where the file gives none)."""
    header, options = read_options(path)
    kept = [o for o in options if o.name.split(".")[0] not in skip]
    read = {o.name for o in kept if o.default is not None}
    loaded = {k for k in leaf_keys(OmegaConf.load(path)) if k.split(".")[0] not in skip}
    if loaded - read:
        raise ExtensionError(f"{path}: the config reference cannot read {sorted(loaded - read)}; "
                             "expected one 'key: value  # meaning' line per option.")
    base_meaning = {}
    if base is not None:
        base_meaning = {o.name: o.meaning for o in read_options(base)[1]}
    for option in kept:
        if option.default is not None and not option.meaning:
            option.meaning = base_meaning.get(option.name, [])
            if not option.meaning:
                raise ExtensionError(f"{path}: option {option.name} has no comment; expected "
                                     "'key: value  # what it means' so that the config reference can say it.")
    return header, kept


def cell(*children: nodes.Node) -> nodes.entry:
    entry = nodes.entry()
    entry += nodes.paragraph("", "", *children)
    return entry


def table(rows: list[Option]) -> nodes.table:
    """Name, default, meaning: one row per option."""
    tgroup = nodes.tgroup(cols=3)
    for width in (25, 20, 55):
        tgroup += nodes.colspec(colwidth=width)
    head = nodes.thead()
    head += nodes.row("", *(cell(nodes.Text(title)) for title in ("option", "default", "meaning")))
    body = nodes.tbody()
    for option in rows:
        body += nodes.row("", cell(nodes.literal(text=option.name)), cell(nodes.literal(text=option.default)),
                          cell(nodes.Text(" ".join(option.meaning))))
    tgroup += head
    tgroup += body
    result = nodes.table(classes=["config-reference", "colwidths-given"])  # the colspecs' widths, in %
    result += tgroup
    return result


class ConfigReference(SphinxDirective):
    """``config-reference PATH``: the options of a config file (relative to the repository), by section."""

    required_arguments = 1
    option_spec = {"skip": directives.unchanged, "base": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        root = Path(self.env.app.confdir).parent
        path = root / self.arguments[0]
        base = root / self.options["base"] if "base" in self.options else None
        skip = tuple(self.options.get("skip", "defaults hydra").split())
        self.env.note_dependency(str(path))
        if base is not None:
            self.env.note_dependency(str(base))
        header, options = options_of(path, skip, base)
        out: list[nodes.Node] = []
        if header:
            out.append(nodes.paragraph("", " ".join(line for line in header if line)))
        top = [o for o in options if "." not in o.name and o.default is not None]
        if top:
            out.append(table(top))
        for section in (o for o in options if o.default is None and "." not in o.name):
            out.append(nodes.rubric("", "", nodes.literal(text=f"{section.name}:")))
            words = " ".join(section.meaning + section.notes)
            if words:
                out.append(nodes.paragraph("", words))
            rows = [o for o in options if o.default is not None and o.name.startswith(section.name + ".")]
            out.append(table(rows))
        return out


def setup(app) -> dict:
    app.add_directive("config-reference", ConfigReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
