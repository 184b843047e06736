"""Sphinx configuration of xpnet's documentation: Markdown pages through MyST, the furo theme,
and the API reference by autodoc from the docstrings. Build it with
``sphinx-build -W --keep-going -b html docs docs/_build/html`` (tests/test_docs.py does)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # autodoc reads this checkout's xpnet, installed or not

import xpnet  # noqa: E402

project = "xpnet"
author = "the xpnet authors"
copyright = "the xpnet authors"
release = version = xpnet.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "cli_reference.py"]
# Sections are linked to by their anchors (page.md#a-heading), as GitHub spells them.
myst_heading_anchors = 4

html_theme = "furo"
html_title = f"xpnet {version}"

autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# The optional backends are imported where used; none is needed to document xpnet.
autodoc_mock_imports = ["cupy", "torch", "jax", "array_api_strict", "safetensors", "matplotlib", "PIL"]

# Every cross-reference must resolve: a renamed function fails the build (-W). No intersphinx
# (the build needs no network), so names from outside xpnet are not links.
nitpicky = True
nitpick_ignore_regex = [
    # Python's and NumPy's names in signatures: not links without intersphinx.
    ("py:class", r"(numpy|np|os|pathlib|collections\.abc|argparse|typing|threading)\..*"),
    ("py:class", r"xpnet\..*\._\w+"),  # private base classes, named by show-inheritance
]


def resolve_short_name(app, env, node, contnode):
    """Docstrings name xpnet's objects briefly (:class:`UsageError`, :class:`xpnet.Config`): link
    such a name to the one documented xpnet object of that name, and leave an ambiguous or unknown
    name unresolved, which fails the build."""
    if node.get("refdomain") != "py":
        return None
    name = node["reftarget"].rpartition(".")[2]
    domain = env.get_domain("py")
    found = [full for full, entry in domain.objects.items()
             if full.startswith("xpnet.") and full.rpartition(".")[2] == name and not entry.aliased]
    if len(found) != 1:
        return None
    resolved = domain.resolve_any_xref(env, node["refdoc"], app.builder, found[0], node, contnode)
    return resolved[0][1] if resolved else None


def setup(app):
    app.connect("missing-reference", resolve_short_name)
