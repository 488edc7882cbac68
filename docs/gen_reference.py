"""Generated pages of the documentation: the search-space YAML reference (from nasprune.space.schema, the data the
validator uses), the command-line reference (from nasprune.cli.parser), the Python API page (from nasprune's public
names) and the benchmark results (benchmarks/RESULTS.md as it is).

The page functions return Markdown and import nothing from MkDocs, so tests call them directly
(tests/test_docs.py). ``on_files`` and ``on_config`` are MkDocs hooks (mkdocs.yml, ``hooks:``): they add the pages
to every build, so a new schema key, command-line flag or public name appears without editing a page, and a public
name without a docstring fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import inspect
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: generated page (path under docs/) -> the function that writes it
PAGES = {
    "reference/space-yaml.md": "space_reference",
    "reference/cli.md": "cli_reference",
    "reference/api.md": "api_reference",
    "benchmarks/results.md": "benchmark_results",
}

#: public names that have no docstring yet and live in files the documentation's authors may not edit; listed so
#: the build passes, and a test fails once one of them has its docstring (then take it off this list)
KNOWN_UNDOCUMENTED: frozenset[str] = frozenset()


def _md(text: str) -> str:
    """``text`` safe inside Markdown prose: no HTML tags, no emphasis or links made by accident."""
    text = html.escape(text, quote=False)
    return re.sub(r"([\\`*_\[\]])", r"\\\1", text)


def _cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell (a ``|`` would end the cell)."""
    return _md(text).replace("|", "\\|")


# ---------------------------------------------------------------------------------------------------------------
# the search-space YAML reference

#: what the top-level keys mean (the schema lists them, in _TOP_KEYS, but says nothing about them)
TOP_KEY_HELP = {
    "name": ("string", "the file's name without .yaml", "the space's name, in the study record and messages"),
    "description": ("string", "empty", "one line shown by `nasprune show` and in the study note"),
    "architecture": ("mapping", "required", "the network: the keys under [architecture](#architecture) and "
                                            "[architecture.stages](#architecturestages)"),
    "training": ("mapping", "all defaults", "how each candidate trains: the keys under [training](#training)"),
    "input": ("[channels, height, width]", "the data's", "the input a preset was designed for; the data decides "
                                                          "when a search runs"),
    "num_classes": ("integer", "the data's", "classifier outputs a preset was designed for"),
    "adapt": ("true or false", "false", "fit the stem, the stage strides and the widths the file leaves out to the "
                                        "data (see [Search spaces](../search-spaces.md#the-default-fits-your-data))"),
    "start_with": ("list of mappings", "none", "candidates the search tries first: each maps searched parameter "
                                               "names (below) to values the space allows; what a candidate leaves "
                                               "out is sampled"),
}


def _validator_says(raw: dict[str, Any], path: str) -> str:
    """What the validator answers for the invalid space ``raw`` at key ``path``, without the offending value: the
    rule for keys the schema checks in code rather than with a Field."""
    from nasprune.errors import SpaceError
    from nasprune.space.schema import validate_space

    try:
        validate_space(raw, "x.yaml")
    except SpaceError as exc:
        prefix = f"x.yaml: {path}: "
        message = str(exc)
        if message.startswith(prefix):
            rule = re.sub(r" ?\(got [^)]*\)|, got \w+$", "", message[len(prefix):])
            return rule.removeprefix("got 1000000, out of range; ").removeprefix("allowed: ").removeprefix("must be ")
    raise RuntimeError(f"the validator accepted a probe of {path}; docs/gen_reference.py needs a new probe")


def _field_comments(cls: type) -> dict[str, str]:
    """field name -> the comment after it in the dataclass's source (nasprune.spec comments every field)."""
    found = re.findall(r"^\s+(\w+):[^#\n]*#\s*(.+)$", inspect.getsource(cls), flags=re.MULTILINE)
    return dict(found)


def _defaults(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def _kind(field: Any) -> str:
    kind = {"int": "integer", "float": "number", "name": "name"}[field.kind]
    forms = "fixed" if not field.searchable else "fixed or choices" if field.kind == "name" else \
        "fixed, choices or range"
    return f"{kind}; {forms}"


def _field_rows(fields: dict[str, Any], defaults: dict[str, Any], comments: dict[str, str],
                special: dict[str, str]) -> list[str]:
    rows = ["| key | type | allowed | default | what it is |", "|---|---|---|---|---|"]
    for key, field in fields.items():
        default = special.get(key, f"`{defaults[key]}`" if key in defaults else "required")
        what = field.help or comments.get(key, "")
        rows.append(f"| `{key}` | {_kind(field)} | {_cell(field.allowed())} | {default} | {_cell(what)} |")
    return rows


def space_reference() -> str:
    """The search-space YAML reference: every key the validator accepts, its type, bounds or names, default."""
    from nasprune.nn import BLOCKS
    from nasprune.space.schema import _TOP_KEYS, ARCH_FIELDS, MAX_STAGES, STAGE_FIELDS, STAGE_OPTIONS, TRAIN_FIELDS
    from nasprune.spec import ArchSpec, StageSpec, TrainSpec

    expansion = ", ".join(f"{name}: {BLOCKS.get(name).default_expansion:g}" for name in BLOCKS.names()
                          if BLOCKS.get(name).default_expansion is not None)
    arch_special = {"expansion": f"per block ({expansion}); not used by the others"}
    minimal = {"architecture": {"stages": {"count": 1, "repeats": 1, "channels": 8}}}
    probes = {
        "input": ({**minimal, "input": 0}, "input"),
        "num_classes": ({**minimal, "num_classes": 0}, "num_classes"),
        "adapt": ({**minimal, "adapt": 0}, "adapt"),
        "start_with": ({**minimal, "start_with": 0}, "start_with"),
        "multiplier": ({"architecture": {"stages": {"count": 1, "repeats": 1, "channels": {
            "base": 8, "multiplier": 1000000}}}}, "architecture.stages.channels.multiplier"),
    }
    rules = {key: _validator_says(raw, path) for key, (raw, path) in probes.items()}
    lines = [
        "# Search-space YAML reference",
        "",
        "_Generated from `nasprune/space/schema.py` (the tables the validator checks against) and the field comments "
        "of `nasprune/spec.py` by `docs/gen_reference.py`: a key added there appears here._ The guide is "
        "[Search spaces](../search-spaces.md).",
        "",
        "## Values",
        "",
        "Every key below that the table calls searchable takes one of three forms:",
        "",
        "```yaml",
        "norm: batch                                   # fixed: always this value",
        "norm: {choices: [batch, group, none]}         # choices: categorical",
        "lr: {low: 0.01, high: 0.3, log: true}         # range: low and high inclusive; optional step or log",
        "```",
        "",
        "A range takes `low`, `high`, and `step` (a number > 0, an integer for integer keys) or `log: true` "
        "(low > 0), not both; an odd-only key (`kernel_size`) needs `step: 2` or choices. Names take no range. "
        "A list is not a value (write `{choices: [...]}`); `1e-3` is a number.",
        "",
        "## Top-level keys",
        "",
        "| key | value | default | what it is |",
        "|---|---|---|---|",
    ]
    for key in _TOP_KEYS:
        kind, default, what = TOP_KEY_HELP.get(key, ("", "", "(not described yet: TOP_KEY_HELP in "
                                                            "docs/gen_reference.py)"))
        lines.append(f"| `{key}` | {_cell(rules[key]) if key in rules else kind} | {default} | {what} |")
    lines += ["", "## architecture", "",
              "Keys a file leaves out take the default (with `adapt: true`, the stem and the stage strides are fitted "
              "to the data instead). Keys a block does not use are not sampled.", ""]
    lines += _field_rows(ARCH_FIELDS, _defaults(ArchSpec), _field_comments(ArchSpec), arch_special)
    stage_comments = _field_comments(StageSpec)
    lines += [
        "", "## architecture.stages", "",
        "`count` is the depth in stages: an integer from 1 to "
        f"{MAX_STAGES}, fixed, choices or range (default: the length of per-stage lists when they agree). "
        "`repeats` and `channels` are required; each per-stage key takes one of three forms:",
        "",
        "```yaml",
        "repeats: {low: 1, high: 4}            # the same form for every stage, sampled per stage (s1_repeats, ...)",
        "repeats: [3, 4, 6, 3]                 # one entry per stage (each may itself be a choice or range)",
        "channels: {base: 16, multiplier: 2}   # channels only: stage i has base * multiplier**(i-1)",
        "```",
        "",
        f"A per-stage list has one entry for each of the most stages `count` allows. In the geometric form `base` "
        f"takes what `channels` takes and `multiplier` {_md(rules['multiplier'])}.",
        "",
        "| key | type | allowed | default | what it is |", "|---|---|---|---|---|",
    ]
    stride_default = "1 in the first stage, 2 in every later one"
    for key, field in STAGE_FIELDS.items():
        default = stride_default if key == "stride" else "required"
        lines.append(f"| `{key}` | {_kind(field)} | {_cell(field.allowed())} | {default} | "
                     f"{_cell(field.help or stage_comments.get(key, ''))} |")
    for key, text in STAGE_OPTIONS.items():  # keys of the stages that are not per-stage values
        lines.append(f"| `{key}` | boolean | true, false | false | {_cell(text)} |")
    lines += ["", "## training", "", "Keys a file leaves out keep the defaults below.", ""]
    lines += _field_rows(TRAIN_FIELDS, _defaults(TrainSpec), _field_comments(TrainSpec), {})
    lines += ["", "## Parameter names", "",
              "Optuna sees one parameter per searched key, under a name that is the same in every trial (the "
              "names `start_with` and `nasprune show` use): an architecture or training key under its own name "
              "(`block`, `lr`), the stage count as `stages`, a per-stage key as `s<i>_<key>` (`s2_repeats`, sampled "
              "only in trials with at least i stages), a geometric width as `channels_base` and "
              "`channels_multiplier`. Fixed values are not parameters. What each bundled space searches:", ""]
    lines += _bundled_parameters()
    return "\n".join(lines) + "\n"


def _bundled_parameters() -> list[str]:
    from nasprune.space import load_space
    from nasprune.space.schema import parameters
    from nasprune.space.values import Choice

    rows = ["| space | searched parameters |", "|---|---|"]
    for path in sorted((ROOT / "search_spaces").glob("*.yaml")):
        space = load_space(str(path))
        names = [f"`{name}`" + (f" ({len(form.choices)} choices)" if isinstance(form, Choice) else " (range)")
                 for name, form in parameters(space).items()]
        rows.append(f"| `{path.stem}` | {', '.join(names) or 'none'} |")
    return rows


# ---------------------------------------------------------------------------------------------------------------
# the command-line reference

def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help_of(action: argparse.Action) -> str:
    text = action.help or ""
    if "%" in text:
        params = {**vars(action), "prog": "nasprune"}
        params = {k: (", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v) for k, v in params.items()}
        text = text % params
    return text


def _option(action: argparse.Action) -> str:
    names = ", ".join(f"`{name}`" for name in action.option_strings) or f"`{action.metavar or action.dest}`"
    if action.nargs != 0 and action.option_strings:
        metavar = action.metavar or ("|".join(map(str, action.choices)) if action.choices else action.dest.upper())
        names += f" *{_md(metavar)}*"
    text = _help_of(action)
    shown = action.default not in (None, False, [], argparse.SUPPRESS) and "default" not in text
    return f"- {names}: {_md(text)}" + (f" (default: `{action.default}`)" if shown else "")


def cli_reference() -> str:
    """The command-line reference: every subcommand of ``nasprune`` and every option, its argument and help."""
    from nasprune.cli.parser import build_parser

    parser = build_parser(version="X")
    commands = _subcommands(parser)
    choices = {a.dest: a for a in parser._actions if isinstance(a, argparse._SubParsersAction)}
    helps = {c.dest: c.help for a in choices.values() for c in a._choices_actions}
    lines = [
        "# Command-line reference",
        "",
        "_Generated from `nasprune/cli/parser.py` by `docs/gen_reference.py`: a flag added there appears here. "
        "`nasprune COMMAND --help` prints the same._",
        "",
        f"{_md(parser.description or '')}",
        "",
        "```",
        "nasprune [--version] COMMAND ...",
        "```",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    lines += [f"| [`{name}`](#nasprune-{name}) | {_md(helps.get(name) or '')} |" for name in commands]
    for name, sub in commands.items():
        lines += ["", f"## nasprune {name}", "", _md(sub.description or helps.get(name) or ""), "", "```",
                  sub.format_usage().strip().replace("usage: ", "", 1), "```"]
        for group in sub._action_groups:
            actions = [a for a in group._group_actions if not isinstance(a, argparse._HelpAction)]
            if not actions:
                continue
            title = {"positional arguments": "Arguments", "options": "Options"}.get(group.title, group.title)
            lines += ["", f"**{_md(title[:1].upper() + title[1:])}**", ""]
            if group.description:
                lines += [_md(group.description[:1].upper() + group.description[1:]) + ".", ""]
            lines += [_option(a) for a in actions]
        if sub.epilog:
            lines += ["", "```text", sub.epilog.strip(), "```"]
    return "\n".join(lines) + "\n"


def cli_flags() -> dict[str, list[str]]:
    """command -> every option string its parser accepts (``--help`` aside): what the reference must show."""
    from nasprune.cli.parser import build_parser

    return {name: [s for a in sub._actions if not isinstance(a, argparse._HelpAction) for s in a.option_strings]
            for name, sub in _subcommands(build_parser(version="X")).items()}


# ---------------------------------------------------------------------------------------------------------------
# the Python API

def _public() -> dict[str, tuple[str, str]]:
    """public name of ``nasprune`` -> (its module, its name there), in the package's order."""
    import nasprune

    return {name: (module, nasprune._RENAMED.get(name, name)) for name, module in nasprune._EXPORTS.items()}


#: module -> heading of its section on the API page
API_SECTIONS = {
    "search": "Search", "prune": "Pruning", "export": "Export", "report": "Report", "diagnose": "Diagnose",
    "diagnostics": "Diagnose", "evaluation": "Saved models", "checkpoint": "Saved models", "show": "Spaces and specs",
    "space": "Spaces and specs", "spec": "Spaces and specs", "nn": "Networks", "measure": "Cost",
    "data": "Data", "train": "Training", "dashboard": "Dashboard", "events": "Progress events", "errors": "Errors",
}


def api_reference() -> str:
    """The Python API page: one mkdocstrings entry per public name of ``nasprune``, grouped by what it is for."""
    sections: dict[str, list[str]] = {}
    for name, (module, attr) in _public().items():
        target = f"nasprune.{module}" if name == module == "events" else f"nasprune.{module}.{attr}"
        title = API_SECTIONS.get(module, "Other")
        shown = f"nasprune.{name}" + (f" (`{target}`)" if attr != name else "")
        sections.setdefault(title, []).append(f"### `{shown}`\n\n::: {target}\n    options:\n      show_root_heading: "
                                              f"false\n      heading_level: 4\n")
    order = ["Search", "Pruning", "Export", "Report", "Diagnose", "Saved models", "Spaces and specs", "Networks",
             "Cost", "Data", "Training", "Dashboard", "Progress events", "Errors", "Other"]
    lines = ["# Python API", "",
             "_Generated from `nasprune.__all__` and the docstrings by `docs/gen_reference.py` and mkdocstrings: a "
             "public name added to the package appears here._ Everything below is one `import nasprune` away "
             "(the names load on first use, so `import nasprune` itself is quick); the guide is "
             "[Getting started](../getting-started.md#python-api).", ""]
    for title in order:
        if title in sections:
            lines += [f"## {title}", "", *sections[title]]
    return "\n".join(lines) + "\n"


def undocumented_public_names() -> list[str]:
    """Public names of ``nasprune`` whose object has no docstring of its own (a dataclass's generated signature
    does not count)."""
    import nasprune

    missing = []
    for name in nasprune.__all__:
        obj = getattr(nasprune, name)
        doc = (obj.__doc__ or "").strip() if callable(obj) or inspect.ismodule(obj) else "constant"
        generated = dataclasses.is_dataclass(obj) and doc.startswith(f"{getattr(obj, '__name__', '')}(")
        if not doc or generated:
            missing.append(name)
    return missing


# ---------------------------------------------------------------------------------------------------------------
# benchmarks

def benchmark_results() -> str:
    """benchmarks/RESULTS.md, where it stays, as a page of the site (its headings one level down)."""
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    body = re.sub(r"^# .*\n", "", text, count=1)
    # GitHub starts a list right under a paragraph's line ("What it measured:"); Python-Markdown needs a blank line
    body = re.sub(r"^([^\s\-|#].*)\n(?=- |\d+\. )", r"\1\n\n", body, flags=re.MULTILINE)
    return ("# Benchmark results\n\n_The file `benchmarks/RESULTS.md` as it is, included by `docs/gen_reference.py`: "
            "every entry says what was measured, the command, the machine and versions, the runs and the numbers. "
            "[Benchmarks](../benchmarks.md) summarizes them._\n" + body)


# ---------------------------------------------------------------------------------------------------------------
# MkDocs hooks

def on_config(config: Any) -> Any:
    """Fail a strict build on a public name without a docstring (KNOWN_UNDOCUMENTED aside)."""
    import logging

    log = logging.getLogger("mkdocs.hooks.gen_reference")
    for name in undocumented_public_names():
        if name in KNOWN_UNDOCUMENTED:
            log.info("nasprune.%s has no docstring (KNOWN_UNDOCUMENTED in docs/gen_reference.py)", name)
        else:
            log.warning("nasprune.%s is public (nasprune.__all__) but has no docstring", name)
    return config


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pages to the build."""
    from mkdocs.structure.files import File

    for path, function in PAGES.items():
        files.append(File.generated(config, path, content=globals()[function]()))
    return files
