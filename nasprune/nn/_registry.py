"""One mechanism for every name -> thing table (activations, norms, blocks)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from ..errors import SpecError

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(Generic[T]):
    """A name -> entry table whose errors list the valid names.

    >>> acts = Registry("activation")
    >>> acts.register("relu", object)
    >>> acts.get("relu") is object
    True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> None:
        """Add ``entry`` under ``name``; a name already taken is an error."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry

    def get(self, name: str) -> T:
        """The entry for ``name``; an unknown name raises :class:`SpecError` listing the valid ones."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise SpecError(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}") from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
