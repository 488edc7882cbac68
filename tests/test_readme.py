"""The README's references hold: every file or folder of the repository it names exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: top-level folders whose files the README cites as evidence or as places to look (results/ is made by a run)
CITED = ("tests", "benchmarks", "nasprune", "search_spaces", "docs", ".ci")


def cited_paths(text: str) -> set[str]:
    """Repository paths in ``text``: words of path characters that start with one of CITED and a slash."""
    words = (w.rstrip(".,;:") for w in re.findall(r"[\w./-]+", text))
    return {w for w in words if w.split("/")[0] in CITED and "/" in w}


def test_the_scan_finds_paths_in_prose_and_code():
    text = "see `tests/a/test_b.py`; benchmarks/RESULTS.md, (nasprune/spec.py) and results/x/y but not tests"
    assert cited_paths(text) == {"tests/a/test_b.py", "benchmarks/RESULTS.md", "nasprune/spec.py"}


def test_every_path_the_readme_names_exists():
    named = cited_paths((ROOT / "README.md").read_text())
    assert len(named) > 20  # the scan sees the README's many citations (a scan that finds nothing proves nothing)
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"README.md names paths that do not exist: {missing}"
