"""Options every command that loads data shares (:class:`DataOptions`) and the parsing of their values. Light on
purpose (no torch): the command line builds them before anything heavy is imported.

Messages name options as the command line spells them (``--val-fraction``); a Python caller passes the field of
the same name (``val_fraction``)."""

from __future__ import annotations

from dataclasses import dataclass

from .choices import AUGMENTS
from .errors import ConfigError

__all__ = ["DataOptions", "parse_image_size", "flag"]


def flag(field: str) -> str:
    """How the command line spells a config field: ``val_fraction`` -> ``--val-fraction``."""
    return "--" + field.replace("_", "-")


@dataclass(frozen=True)
class DataOptions:
    """How a data set is loaded and split."""

    val_fraction: float = 0.2  # share held out for validation where the source has no val/ split
    test_fraction: float = 0.2  # share held out for the final test where the source has no test split
    image_size: tuple[int, int] | None = None  # resize every image once to (H, W) (image folders)
    augment: str = "auto"  # one of AUGMENTS; auto: per data set (nasprune.data.load)
    download: bool = False  # fetch torchvision data sets that are not on disk (the only network access)
    skip_broken_images: bool = False  # leave out undecodable files instead of failing
    cache: bool = True  # keep decoded images under the cache folder

    def __post_init__(self) -> None:
        if self.augment not in AUGMENTS:
            raise ConfigError(f"unknown --augment {self.augment!r}; valid: {', '.join(AUGMENTS)}")
        for name in ("val_fraction", "test_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"{flag(name)} must be between 0 and 1 (got {getattr(self, name)})")
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError(f"--val-fraction + --test-fraction must be < 1 (got "
                              f"{self.val_fraction + self.test_fraction:g})")


def parse_image_size(text: str) -> tuple[int, int]:
    """'32' -> (32, 32); '48x64' -> (48, 64) as (height, width)."""
    parts = text.lower().split("x")
    if len(parts) not in (1, 2) or not all(p.isdigit() and 0 < int(p) <= 4096 for p in parts):
        raise ConfigError(f"image size {text!r} must be N or HxW with integers in 1..4096, e.g. 32 or 48x64")
    return (int(parts[0]), int(parts[-1]))
