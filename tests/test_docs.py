"""The generated reference pages (docs/gen_reference.py) hold every search-space key, every command-line flag and
every public name, and pick up a new one without a page being edited. The generator is called directly: these tests
need no MkDocs."""

import argparse
import importlib.util
import re
from pathlib import Path

import pytest

import nasprune
from nasprune.cli import parser as cli_parser
from nasprune.space import schema
from nasprune.space.values import Field

ROOT = Path(__file__).resolve().parents[1]


def _docs_module(name: str):
    """docs/NAME.py, loaded from its file (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen():
    """docs/gen_reference.py."""
    return _docs_module("gen_reference")


def schema_keys() -> set[str]:
    """Every key a search-space file may hold, read from the schema's own tables (not from the generator)."""
    keys = {*schema._TOP_KEYS, *schema.ARCH_FIELDS, *schema.STAGE_FIELDS, *schema.STAGE_OPTIONS, *schema.TRAIN_FIELDS}
    return keys | {"stages", "count", "base", "multiplier"}  # architecture.stages and its count, geometric channels


def missing_keys(text: str, keys: set[str]) -> list[str]:
    return sorted(k for k in keys if f"`{k}`" not in text)


def cli_options(parser: argparse.ArgumentParser) -> dict[str, set[str]]:
    """command -> its option strings, walked from the parser itself (not from the generator)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: {s for a in p._actions if not isinstance(a, argparse._HelpAction) for s in a.option_strings}
            for name, p in sub.choices.items()}


def missing_flags(text: str, options: dict[str, set[str]]) -> list[str]:
    """'command --flag' for every option not shown, as code, in its command's section of ``text``."""
    sections = dict(re.findall(r"^## nasprune (\S+)\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL))
    return sorted(f"{command} {flag}" for command, flags in options.items() for flag in flags
                  if f"`{flag}`" not in sections.get(command, ""))


def test_every_schema_key_is_in_the_space_reference(gen):
    text = gen.space_reference()
    keys = schema_keys()
    assert len(keys) > 30 and {"block", "repeats", "lr", "start_with"} <= keys
    assert not missing_keys(text, keys), f"keys missing from the YAML reference: {missing_keys(text, keys)}"


def test_every_allowed_name_and_bound_is_in_the_space_reference(gen):
    text = gen.space_reference()
    for fields in (schema.ARCH_FIELDS, schema.STAGE_FIELDS, schema.TRAIN_FIELDS):
        for key, field in fields.items():
            row = next(line for line in text.splitlines() if line.startswith(f"| `{key}` |"))
            if field.kind == "name":
                assert all(name.replace("_", r"\_") in row for name in field.vocabulary()), row
            else:
                assert f"{field.low:g}" in row and f"{field.high:g}" in row, row


def test_the_key_check_fails_on_a_missing_key(gen):
    text = gen.space_reference()
    assert missing_keys(text.replace("`grad_clip`", "grad clip"), schema_keys()) == ["grad_clip"]


def test_a_new_schema_key_appears_without_editing_a_page(gen, monkeypatch):
    monkeypatch.setitem(schema.TRAIN_FIELDS, "ema_decay", Field("float", 0, 1, help="weight averaging"))
    text = gen.space_reference()
    assert "| `ema_decay` |" in text and "weight averaging" in text


def test_every_cli_flag_is_in_the_cli_reference(gen):
    text = gen.cli_reference()
    options = cli_options(cli_parser.build_parser(version="X"))
    assert {"search", "prune", "eval", "diagnose", "report", "export", "dashboard", "show", "studies"} <= set(options)
    assert {"--time-budget", "--max-mflops", "--workers"} <= options["search"]
    assert not missing_flags(text, options), f"flags missing from the CLI reference: {missing_flags(text, options)}"
    for command in options:  # every command's section has its usage line
        assert f"## nasprune {command}\n" in text


def test_the_flag_check_fails_on_a_missing_flag(gen):
    text = gen.cli_reference()
    options = cli_options(cli_parser.build_parser(version="X"))
    assert missing_flags(text.replace("`--time-budget`", "--time budget"), options) == ["search --time-budget"]


def test_a_new_flag_appears_without_editing_a_page(gen, monkeypatch):
    build = cli_parser.build_parser

    def with_a_new_flag(version=None):
        parser = build(version)
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices["prune"].add_argument("--keep-ratio-floor", type=float, help="never below this share")
        return parser

    monkeypatch.setattr(cli_parser, "build_parser", with_a_new_flag)
    text = gen.cli_reference()
    assert not missing_flags(text, cli_options(with_a_new_flag("X")))
    assert "`--keep-ratio-floor`" in text and "never below this share" in text


def test_every_public_name_is_on_the_api_page(gen):
    text = gen.api_reference()
    entries = re.findall(r"^::: (\S+)$", text, flags=re.MULTILINE)
    assert len(entries) == len(nasprune.__all__)
    for name in nasprune.__all__:
        assert f"### `nasprune.{name}" in text, name


def test_public_names_without_a_docstring_are_known(gen):
    """mkdocs build --strict fails on a public name without a docstring; the few in files the docs may not edit are
    listed, and leave the list once they have one."""
    undocumented = set(gen.undocumented_public_names())
    assert undocumented <= gen.KNOWN_UNDOCUMENTED, f"public names without a docstring: {undocumented}"
    stale = gen.KNOWN_UNDOCUMENTED - undocumented
    assert not stale, f"{stale} has a docstring now: take it off KNOWN_UNDOCUMENTED in docs/gen_reference.py"


def test_the_benchmark_page_is_results_md(gen):
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    page = gen.benchmark_results()
    headings = re.findall(r"^## .+$", results, flags=re.MULTILINE)
    assert len(headings) > 5 and all(h in page for h in headings)
    def text(markdown: str) -> str:  # the page may add blank lines (before lists), nothing else
        return "\n".join(line for line in markdown.splitlines() if line.strip())

    assert text(results.split("\n", 1)[1]) in text(page)  # everything after its title, unchanged


def test_the_generated_pages_are_in_the_navigation(gen):
    nav = (ROOT / "mkdocs.yml").read_text()
    assert all(f": {page}\n" in nav for page in gen.PAGES)


@pytest.fixture(scope="module")
def griffe_rst():
    """docs/griffe_rst.py (its functions need no griffe; its extension class does)."""
    return _docs_module("griffe_rst")


def test_docstrings_render_as_written(griffe_rst):
    text = ('Load a :class:`~nasprune.spec.ArchSpec`.\n\nExample::\n\n    spec = f()\n    x = 1\n\n'
            'More.\n>>> r["a"]["b"]\n1\n\nEnd.')
    assert griffe_rst.convert(text) == ('Load a ``ArchSpec``.\n\nExample:\n\n```python\nspec = f()\nx = 1\n```\n\n'
                                        'More.\n\n```pycon\n>>> r["a"]["b"]\n1\n```\n\nEnd.')


def test_a_field_takes_the_comment_on_its_line(griffe_rst):
    assert griffe_rst.trailing_comment("    epochs: int = 10  # full passes over the data") == "full passes over the data"
    assert griffe_rst.trailing_comment('    sep: str = "#"') is None
    assert griffe_rst.trailing_comment("    x: int = 0  # noqa: E501") is None
