"""Sphinx configuration of the gild_torchrl site: ``python -m sphinx -W docs docs/_build/html``."""

import inspect
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS / "_ext"), str(DOCS.parent)]

project = "gild_torchrl"
author = "gild_torchrl contributors"
copyright = "2026, " + author

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # the docstrings' Args: sections (Google style)
    "config_reference",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
# The study records (run directories, analysis outputs) are data, not pages: a study page
# includes its generated results.md and shows its figures from there.
exclude_patterns = ["_build", "studies/*/**", "_ext"]

myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 4  # [text](page.md#a-heading) links
myst_links_external_new_tab = False

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True

html_theme = "furo"
html_title = "gild_torchrl"
html_static_path = ["_static"]
html_css_files = ["config_reference.css"]


def class_signature(app, what, name, obj, options, signature, return_annotation):
    """TorchRL's ``LossModule.__new__`` takes ``(*args, **kwargs)``, which autodoc would show for every
    loss class: show the class's own signature instead (its types are listed under Parameters)."""
    if what != "class" or signature != "(*args, **kwargs)":
        return None
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty)), None


def setup(app) -> None:
    app.connect("autodoc-process-signature", class_signature)
