"""A griffe extension (mkdocs.yml, mkdocstrings' ``extensions``) that renders nasprune's docstrings as they are
written: reST-flavoured prose in Google style. It changes the text mkdocstrings renders, never the source:

- a ``:class:`~a.b.C``` (``:func:``, ``:mod:``, ``:meth:``, ``:attr:``) role becomes the code ``C`` (or ``a.b.C``);
- a literal block announced by ``::`` and a run of doctest lines (``>>>`` and their output) become fenced code,
  so Markdown does not read ``x["a"]["b"]`` as a link or ``*`` as emphasis.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|mod|meth|attr|data|exc|obj):`(~?)([^`]+)`")


def _role(match: re.Match) -> str:
    name = match.group(2)
    return f"``{name.rsplit('.', 1)[-1] if match.group(1) else name}``"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def convert(text: str) -> str:
    """``text`` (a dedented docstring) with roles as code and literal blocks and doctests fenced."""
    lines = _ROLE.sub(_role, text).split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.endswith("::") and not stripped.startswith(">>>"):
            # a literal block: the indented lines after a blank one
            base = _indent(line)
            out.append(line[:-1] if stripped != "::" else "")
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            block: list[str] = []
            while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
            if block:
                cut = min(_indent(b) for b in block if b.strip())
                pad = " " * base
                out += ["", f"{pad}```python", *(pad + b[cut:] if b.strip() else "" for b in block), f"{pad}```", ""]
                i = j
                continue
            i += 1
            continue
        if stripped.startswith(">>>"):
            pad = line[:_indent(line)]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][len(pad):] if lines[i].startswith(pad) else lines[i].strip())
                i += 1
            out += ["", f"{pad}```pycon", *(pad + b for b in block), f"{pad}```", ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class RstLiterals(griffe.Extension):
    """Apply :func:`convert` to every docstring griffe loads."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
