"""A report is a list of sections; each renders to Markdown (images by file name) and to self-contained HTML
(images embedded as base64, no network needed to open it)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Section", "Table", "to_markdown", "to_html"]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)  # paragraphs (Markdown inline syntax kept simple: `code`)
    tables: list[Table] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    level: int = 2


def _md_table(t: Table) -> str:
    lines = ["| " + " | ".join(t.header) + " |", "|" + "---|" * len(t.header)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in t.rows]
    return "\n".join(lines)


def to_markdown(title: str, sections: list[Section]) -> str:
    out = [f"# {title}", ""]
    for s in sections:
        out += [f"{'#' * s.level} {s.title}", ""]
        out += [p + "\n" for p in s.text]
        out += [_md_table(t) + "\n" for t in s.tables]
        out += [f"![{img.stem}]({img.name})\n" for img in s.images]
    return "\n".join(out).rstrip() + "\n"


def _inline(text: str) -> str:
    """Escape, then turn `code` spans into <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in t.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 8px;"
        "text-align:left}th{background:#f3f3f3}img{max-width:100%;margin:0.5em 0}code{background:#f3f3f3;"
        "padding:0 3px}")


def to_html(title: str, sections: list[Section]) -> str:
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    for s in sections:
        out.append(f"<h{s.level}>{html.escape(s.title)}</h{s.level}>")
        out += [f"<p>{_inline(p)}</p>" for p in s.text]
        out += [_html_table(t) for t in s.tables]
        for img in s.images:
            data = base64.b64encode(img.read_bytes()).decode()
            out.append(f"<img alt='{html.escape(img.stem)}' src='data:image/png;base64,{data}'>")
    out.append("</body></html>")
    return "\n".join(out)
