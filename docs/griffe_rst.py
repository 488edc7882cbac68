"""A griffe extension (mkdocs.yml, mkdocstrings' ``extensions``) that renders nasprune's docstrings as they are
written: reST-flavoured prose in Google style. It changes the text mkdocstrings renders, never the source:

- a ``:class:`~a.b.C``` (``:func:``, ``:mod:``, ``:meth:``, ``:attr:``) role becomes the code ``C`` (or ``a.b.C``);
- a literal block announced by ``::`` and a run of doctest lines (``>>>`` and their output) become fenced code,
  so Markdown does not read ``x["a"]["b"]`` as a link or ``*`` as emphasis;
- an attribute without a docstring takes the comment at the end of its line (``epochs: int = 10  # full passes``):
  the code comments every field of its dataclasses that way.
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Any

try:
    import griffe
except ImportError:  # without the docs extra: convert() and trailing_comment() still work (tests/test_docs.py)
    griffe = None

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
            out += ["", f"{pad}```pycon", *(pad + b for b in block), f"{pad}```"]  # a blank line or the end follows
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def trailing_comment(line: str) -> str | None:
    """The comment that ends the line of code ``line``, if any (a ``#`` inside a string is not one)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    comments = [tok.string for tok in tokens if tok.type == tokenize.COMMENT]
    text = comments[-1].lstrip("#").strip() if comments else ""
    return text if text and not text.startswith(("noqa", "type:", "pragma")) else None


class RstLiterals(griffe.Extension if griffe else object):
    """Apply :func:`convert` to every docstring griffe loads; give fields their line's comment as docstring."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is None and obj.is_attribute and obj.lineno is not None and obj.lineno == obj.endlineno:
            comment = trailing_comment(obj.lines[0]) if obj.lines else None
            if comment:
                obj.docstring = griffe.Docstring(comment, lineno=obj.lineno, endlineno=obj.lineno, parent=obj)
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
