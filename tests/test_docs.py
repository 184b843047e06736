"""The documentation stays true to the code: the CLI reference matches the parsers, each package's
docstring names all its modules, the Sphinx site builds with warnings as errors, the README stays
short and every relative link in it and in the pages leads to a file."""

import importlib
import importlib.util
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
README_MOST_LINES = 220
# [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
PACKAGES = ("xpnet", "xpnet.nn", "xpnet.training", "xpnet.training.extensions", "xpnet.data", "xpnet.inference",
            "xpnet.bench")


def cli_reference():
    """docs/cli_reference.py, imported from its path (docs/ is no package)."""
    spec = importlib.util.spec_from_file_location("cli_reference", DOCS / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_matches_the_parsers():
    reference = cli_reference()
    committed = reference.CLI_PAGE.read_text(encoding="utf-8")
    assert committed == reference.render(), (
        f"docs/cli.md is stale (a flag was added or changed): run `{reference.REGENERATE}` and commit docs/cli.md")


def test_the_cli_reference_lists_every_flag_of_every_command():
    page = cli_reference().render()
    for module_name in cli_reference().COMMANDS:
        parser = importlib.import_module(module_name).build_parser()
        assert f"## `{parser.prog}`" in page
        for action in parser._actions:
            for flag in action.option_strings:
                assert flag in ("-h", "--help") or f"`{flag}`" in page, f"{parser.prog} {flag}"


def test_defaults_move_from_the_help_text_to_their_column():
    split_default = cli_reference().split_default
    assert split_default("a named recipe (default: none): a (b), c") == ("a named recipe: a (b), c", "none")
    assert split_default("every N epochs (default: 1, or the resumed run's (if any))") == (
        "every N epochs", "1, or the resumed run's (if any)")
    assert split_default("no default stated") == ("no default stated", "")


@pytest.mark.parametrize("package_name", PACKAGES)
def test_each_package_docstring_names_all_its_modules(package_name):
    package = importlib.import_module(package_name)
    modules = [info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_")]
    named = set(re.findall(r"``(\w+)``", package.__doc__ or ""))
    missing = [name for name in modules if name not in named]
    assert not missing, (f"{package_name}'s docstring does not name {', '.join(missing)}: add each, as ``name`` "
                         f"with what it holds, in reading order, to {package.__file__}")


def test_the_docs_build_with_warnings_as_errors(tmp_path):
    for needed in ("sphinx", "myst_parser", "furo"):
        pytest.importorskip(needed, reason=f"{needed} is not installed: pip install -e '.[docs]' (or '.[test]')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
                          check=False, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert done.returncode == 0, f"sphinx-build -W failed:\n{done.stdout}{done.stderr}"
    assert (tmp_path / "html" / "cli.html").is_file()


def test_the_readme_stays_short():
    lines = (REPO / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MOST_LINES, (
        f"README.md has {lines} lines (at most {README_MOST_LINES}): move the details to a page in docs/ and link to it")


def relative_links(page: Path) -> list[str]:
    """The link and image targets of a Markdown page that name a file of the repository (code blocks left out)."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    targets = (match.group(1) for match in LINK.finditer(text))
    return [target for target in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", target)]


@pytest.mark.parametrize("page", [REPO / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda page: page.name)
def test_every_relative_link_leads_to_a_file(page):
    links = relative_links(page)
    broken = [target for target in links if not (page.parent / target.split("#", 1)[0]).is_file()]
    assert not broken, f"{page.relative_to(REPO)} links to files that do not exist: {', '.join(broken)}"


def test_relative_links_are_found_and_others_left_alone(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[a](docs/a.md#x) ![b](b.png) [c](https://x.org/c) [d](#d) [e](mailto:e@x.org)\n"
                    "```\n[f](not-a-link.md)\n```\n", encoding="utf-8")
    assert relative_links(page) == ["docs/a.md#x", "b.png"]


def python_block_after(page: str, marker: str) -> str:
    """The first ```python block of ``page`` whose text contains ``marker``."""
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    return next(block for block in blocks if marker in block)


def output_block_after(page: str, code_marker: str) -> str:
    """The plain ``` block that follows the python block holding ``code_marker``: its printed output."""
    text = (DOCS / page).read_text(encoding="utf-8")
    after_code = text.index("\n```\n", text.index(code_marker)) + len("\n```\n")
    return re.search(r"^```\n(.*?)^```", text[after_code:], re.MULTILINE | re.DOTALL).group(1)


@pytest.mark.parametrize("page, marker", [("tutorial.md", "class Tanh"), ("loop.md", "class WeightNorms")])
def test_the_programs_in_the_pages_print_what_the_pages_show(page, marker):
    code = python_block_after(page, marker)
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                               cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert completed.returncode == 0, completed.stderr
    shown = output_block_after(page, marker)
    # Seconds vary from run to run: compare the lines with every duration masked.
    mask = re.compile(r"\d+\.\d+ s\b|[\d,]+ ex/s")
    assert mask.sub("T", completed.stdout) == mask.sub("T", shown)
