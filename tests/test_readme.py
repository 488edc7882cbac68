"""The README's facts hold: it opens with the two commands `.ci/run` runs, it fits on a few screens, and every file or
folder of the repository it (or a page of the documentation it links to) names exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: top-level folders whose files the README cites as evidence or as places to look (results/ is made by a run)
CITED = ("tests", "benchmarks", "nasprune", "search_spaces", "docs", ".ci")
#: the README's two commands: install and run the default search; run the tests
INSTALL_AND_SEARCH = ('python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && '
                      'pip install -e ".[test]" && nasprune search')
TESTS = "python -m pytest -q"
MAX_LINES = 220


def cited_paths(text: str) -> set[str]:
    """Repository paths in ``text``: words of path characters that start with one of CITED and a slash."""
    words = (w.rstrip(".,;:") for w in re.findall(r"[\w./-]+", text))
    return {w for w in words if w.split("/")[0] in CITED and "/" in w}


def code_lines(text: str) -> list[str]:
    """The lines of the indented code blocks of ``text``, in order, without their indent."""
    return [line[4:] for line in text.splitlines() if line.startswith("    ") and line.strip()]


def test_the_scan_finds_paths_in_prose_and_code():
    text = "see `tests/a/test_b.py`; benchmarks/RESULTS.md, (nasprune/spec.py) and results/x/y but not tests"
    assert cited_paths(text) == {"tests/a/test_b.py", "benchmarks/RESULTS.md", "nasprune/spec.py"}


def test_every_path_the_readme_names_exists():
    named = cited_paths((ROOT / "README.md").read_text())
    assert len(named) > 15  # the scan sees the README's citations and its links to docs/ (a scan that finds nothing proves nothing)
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"README.md names paths that do not exist: {missing}"


def test_every_path_the_documentation_names_exists():
    """The README's long sections moved to docs/; the check of the paths they cite moved with them."""
    pages = sorted((ROOT / "docs").rglob("*.md"))
    assert len(pages) >= 10
    # a link's target is relative to its page, and mkdocs build --strict checks it: scan the text around links
    texts = {page.relative_to(ROOT): re.sub(r"\]\([^)]*\)", "]", page.read_text()) for page in pages}
    named = {(page, path) for page, text in texts.items() for path in cited_paths(text)}
    assert len(named) > 40
    missing = sorted(f"{page}: {path}" for page, path in named if not (ROOT / path).exists())
    assert not missing, f"documentation pages name paths that do not exist: {missing}"


def test_the_readme_opens_with_the_two_commands_and_ci_runs_them():
    text = (ROOT / "README.md").read_text()
    assert code_lines(text)[:2] == [INSTALL_AND_SEARCH, TESTS]
    assert text.index(INSTALL_AND_SEARCH) < text.index("\n## ")  # before the first section
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert 'pip install torch==2.13.0 && pip install -e ".[test]"' in ci
    assert TESTS in ci


def test_the_readme_fits_on_a_few_screens():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= MAX_LINES, f"README.md has {lines} lines; move detail to docs/ (at most {MAX_LINES})"


def test_the_code_scan_sees_indented_blocks_only():
    assert code_lines("prose\n\n    a --b\n\n  not code\n    c\n") == ["a --b", "c"]
