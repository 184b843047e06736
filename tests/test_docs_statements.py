"""What the README and the pages say is checked where it can be: the same extra named wherever a
user is told how to get array-api-strict, a usage error's transcript equal to the command's
output, and no wording about how xpnet was made (a development machine's paths, internal work
items) in what a user reads."""

import re
import subprocess
import sys
import pytest

import xpnet
from xpnet import backend

from test_docs import DOCS, REPO

PAGES = [REPO / "README.md", *sorted(DOCS.glob("*.md"))]
# What a user reads: the pages, the examples, and the package's docstrings, help texts and messages.
USER_TEXT = [*PAGES, *sorted((REPO / "examples").glob("*.py")), *sorted((REPO / "xpnet").rglob("*.py"))]
INSTALL_EXTRA = re.compile(r"pip install -e '\.\[([a-z0-9-]+)\]'")
DEVELOPMENT_WORDING = {
    "a development machine's path": re.compile(r"/work/|/home/(?!you/)"),
    "an internal work item": re.compile(r"\bissues? #?\d+|(?<![\w&])#\d+\b|\bthe issue on\b", re.IGNORECASE),
    "the developers' hardware": re.compile(r"\b(our|we|we've|we have|we had) (machines?|GPUs?|CPUs?|never|no GPU)\b",
                                           re.IGNORECASE),
}


def strict_extra_of_the_hint() -> str:
    return INSTALL_EXTRA.search(backend._INSTALL_HINT["array-api-strict"]).group(1)


def test_the_hint_names_an_extra_that_installs_array_api_strict():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    extra = strict_extra_of_the_hint()
    assert any(package.startswith("array-api-strict") for package in extras[extra]), extra


def test_array_api_strict_has_one_extra_everywhere():
    extra = strict_extra_of_the_hint()
    install_lines = [line for page in (REPO / "README.md", DOCS / "getting-started.md")
                     for line in page.read_text(encoding="utf-8").splitlines() if "as a backend" in line]
    table_row = next(line for line in (DOCS / "backends.md").read_text(encoding="utf-8").splitlines()
                     if line.startswith("| array-api-strict |"))
    named = {INSTALL_EXTRA.search(line).group(1) for line in [*install_lines, table_row]}
    assert len(install_lines) == 2 and named == {extra}, (
        f"array-api-strict is installed by '.[{extra}]' (xpnet/backend.py's hint), but the docs name {sorted(named)}")


@pytest.mark.parametrize("path", USER_TEXT, ids=lambda path: str(path.relative_to(REPO)))
def test_no_wording_about_how_xpnet_was_made(path):
    text = path.read_text(encoding="utf-8")
    found = [f"{what}: {match.group(0)!r} (line {text.count(chr(10), 0, match.start()) + 1})"
             for what, pattern in DEVELOPMENT_WORDING.items() for match in pattern.finditer(text)]
    assert not found, f"{path.relative_to(REPO)} speaks of how xpnet was made, not of what the user has: {found}"


def transcript(page: str, command: str) -> str:
    """The lines a page shows after ``$ COMMAND``, up to the next ``$`` line or the block's end."""
    text = (DOCS / page).read_text(encoding="utf-8")
    after = text[text.index(f"$ {command}\n") + len(command) + 3:]
    return re.split(r"^(?:\$ |```)", after, maxsplit=1, flags=re.MULTILINE)[0]


def test_the_usage_error_transcript_is_the_real_output():
    shown = transcript("getting-started.md", "python -m xpnet.train --lrr 3")
    done = subprocess.run([sys.executable, "-m", "xpnet.train", "--lrr", "3"], capture_output=True, text=True,
                          cwd=REPO, timeout=120, check=False)
    assert done.returncode == 2 and done.stdout + done.stderr == shown


def test_the_first_run_carves_a_dev_split_and_shows_it_every_epoch():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick_start = readme[readme.index("## Quick start"):readme.index("## Install")]
    flags = re.search(r"python -m xpnet\.train ([^#\n]*?)\s*#", quick_start).group(1).split()
    assert "--dev-size" in flags, "the README's first run carves no dev split"
    dev_size = int(flags[flags.index("--dev-size") + 1])
    assert f"holds out {dev_size:,} shuffled training examples" in quick_start and "test set stays untouched" in quick_start
    page = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    shown_command = f"python -m xpnet.train {' '.join(flags)}"
    assert f"pip install -e . && {shown_command}" in page, "getting started's first run differs from the README's"
    output = re.search(r"^```\n(.*?)^```", page[page.index(f"Real output of `{shown_command}"):],
                       re.MULTILINE | re.DOTALL).group(1)
    epoch_lines = [line for line in output.splitlines() if line.startswith("epoch")]
    assert f"{60_000 - dev_size:,} train, {dev_size:,} dev" in output
    assert epoch_lines and all("dev loss" in line and "dev acc" in line for line in epoch_lines), output
    done = subprocess.run([sys.executable, "-m", "xpnet.train", *flags, "--dataset", "synthetic", "--epochs", "1"],
                          capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^epoch 1/1 .*dev loss \d\.\d{4}  dev acc +\d+\.\d\d%", done.stdout, re.MULTILINE), done.stdout


def notebooks_table() -> dict[str, dict[str, str]]:
    """docs/notebooks.md's table of the seed presets: {preset: {column: cell}}."""
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in (DOCS / "notebooks.md").read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    header = rows[0]
    return {row[0].strip("`"): dict(zip(header, row)) for row in rows[2:]}


@pytest.mark.parametrize("preset", ["seed000", "seed001"])
def test_a_seed_preset_says_what_its_notebook_printed_and_what_xpnet_reaches(preset):
    description, row = xpnet.PRESETS[preset].description, notebooks_table()[preset]
    printed, reached = row["notebook"].split()[0], row["xpnet (NumPy)"]
    assert printed in description and reached in description, (
        f"--preset {preset}'s description {description!r} should give the notebook's {printed} and xpnet's {reached}")


@pytest.mark.parametrize("page", ["README.md", "docs/getting-started.md"])
def test_the_install_list_names_every_extra(page):
    """The list of extras a newcomer reads names each one pyproject.toml has ('.[export]' was missing)."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    named = set(INSTALL_EXTRA.findall((REPO / page).read_text(encoding="utf-8")))
    named |= set(re.findall(r"\('\.\[([a-z0-9-]+)\]'", (REPO / page).read_text(encoding="utf-8")))
    named |= set(re.findall(r" or '\.\[([a-z0-9-]+)\]'", (REPO / page).read_text(encoding="utf-8")))
    assert sorted(set(extras) - named) == [], f"{page} names no install line for these extras"


def test_the_hostile_suite_is_as_large_as_the_reliability_page_says():
    """The page said 188 cases while pytest -m hostile collected 462: the page states a floor."""
    stated = re.search(r"runs the suite that keeps it so \(more than ([\d,]+) cases",
                       (DOCS / "reliability.md").read_text(encoding="utf-8"))
    assert stated, "docs/reliability.md states how many cases the hostile suite has, as 'more than N cases'"
    listing = subprocess.run([sys.executable, "-m", "pytest", "-m", "hostile", "--collect-only", "-q",
                              "-p", "no:cacheprovider", str(REPO / "tests")], capture_output=True, text=True,
                             cwd=REPO, timeout=300)
    collected = int(re.search(r"(\d+)/\d+ tests collected", listing.stdout).group(1))
    assert collected > int(stated.group(1).replace(",", "")), listing.stdout[-300:]
