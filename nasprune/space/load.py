"""Reading search-space files: safe YAML, duplicate keys refused, bundled spaces found by name."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import SpaceError
from .schema import SearchSpace, validate_space

__all__ = ["load_space", "bundled_spaces", "space_hash", "bundled_space_dir"]


class _StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader (no tags that construct objects) that also refuses duplicate keys and reads
    ``1e-3`` as a float (YAML 1.1, which PyYAML follows, would read it as a string)."""


    def compose_node(self, parent: Any, index: Any) -> Any:
        # anchors and aliases (&a / *a) have no use in a search space, and nested aliases blow a few lines up
        # into billions of values ("billion laughs"): refused where they occur
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a search space",
                                              event.start_mark)
        return super().compose_node(parent, index)


#: a search space is a page of YAML; anything far larger is a mistake (or an attack), refused before parsing
MAX_BYTES = 256 * 1024


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark)
        except TypeError:  # an unhashable key; construct_mapping below reports it
            break
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def bundled_space_dir() -> Path:
    """The folder of the search spaces that ship with nasprune: ``nasprune/_spaces`` in an installed
    wheel, the repository's ``search_spaces/`` in a source checkout (``pip install -e .``)."""
    installed = Path(__file__).resolve().parent.parent / "_spaces"
    return installed if installed.is_dir() else Path(__file__).resolve().parents[2] / "search_spaces"


def bundled_spaces() -> dict[str, Path]:
    """Name -> file of every bundled space and preset (``default``, ``resnet``, ``resnet20``, ...)."""
    root = bundled_space_dir()
    files = sorted(root.glob("*.yaml")) + sorted(root.glob("presets/*.yaml"))
    return {f.stem: f for f in files}


def _resolve(space: str | Path) -> Path:
    path = Path(space)
    if path.exists():
        return path
    if isinstance(space, str) and "/" not in space and space.removesuffix(".yaml") in bundled_spaces():
        return bundled_spaces()[space.removesuffix(".yaml")]
    names = ", ".join(bundled_spaces()) or "none found"
    raise SpaceError(f"{space}: no such search-space file; give a path to a YAML file or a bundled name ({names})")


def load_space(space: str | Path) -> SearchSpace:
    """Load and validate a search space from a YAML file or a bundled name.

    Args:
        space: a path (``search_spaces/resnet.yaml``) or the name of a bundled space or preset
            (``resnet``, ``resnet20``).

    Raises:
        SpaceError: one line naming the file, the key path and what is allowed.

    >>> load_space("resnet20").is_fixed
    True
    """
    path = _resolve(space)
    source = str(space) if Path(space) == path else str(path)  # a bundled name: show where it lives
    try:
        if path.stat().st_size > MAX_BYTES:
            raise SpaceError(f"{source}: {path.stat().st_size:,} bytes is too large for a search space (at most "
                             f"{MAX_BYTES:,}); is it the right file?")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpaceError(f"{source}: cannot read the file ({exc.__class__.__name__}: {exc})") from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
        if raw is None:
            raise SpaceError(f"{source}: the file is empty; a search space needs at least 'architecture'")
        return validate_space(raw, source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpaceError(f"{source}: not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise SpaceError(f"{source}: nested too deeply to be a search space") from None


def space_hash(space: SearchSpace) -> str:
    """A short hash of the parsed content (comments and formatting do not change it)."""
    text = json.dumps(space.raw, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
