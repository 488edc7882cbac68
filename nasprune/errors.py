"""Errors nasprune raises on purpose.

Every error a user can cause (a bad search space, an unknown data set, a study that does not match the
command) is a :class:`NaspruneError`. Its message is one line that names the problem and the fix; the
command line prints it without a traceback and exits with :attr:`NaspruneError.exit_code`.
"""

from __future__ import annotations

import errno

__all__ = [
    "NaspruneError",
    "ConfigError",
    "SpaceError",
    "SpecError",
    "DataError",
    "StudyError",
    "CheckpointError",
    "CandidateError",
    "DivergedError",
    "DiskFullError",
    "ExportError",
    "DISK_FULL",
    "disk_full_message",
    "StorageLostError",
    "first_line",
]


def first_line(exc: BaseException) -> str:
    """``Type: the first line of its message`` (just ``Type`` without one): an error of a library nasprune calls,
    said in one line."""
    text = str(exc).strip()
    return f"{exc.__class__.__name__}: {text.splitlines()[0]}" if text else exc.__class__.__name__


class NaspruneError(Exception):
    """Base of every error nasprune raises on purpose; its message is a single line."""

    #: Exit status of the command line: 2 for bad input (the convention of argparse), 1 otherwise.
    exit_code = 1


class ConfigError(NaspruneError):
    """An option has a value nasprune cannot use (an unknown precision, a negative budget, ...)."""

    exit_code = 2


class SpaceError(NaspruneError):
    """A search-space file is malformed: the message names the file, the key path and what is allowed."""

    exit_code = 2


class SpecError(NaspruneError):
    """An architecture spec describes a network that cannot be built (for example, a zero-padding
    shortcut into fewer channels)."""

    exit_code = 2


class DataError(NaspruneError):
    """A data set cannot be loaded: unknown name, missing folder, unusable content."""

    exit_code = 2


class StudyError(NaspruneError):
    """A study cannot be used: unreachable storage, or an existing study made with other settings."""

    exit_code = 2


class CheckpointError(NaspruneError):
    """A saved model or checkpoint is missing, corrupt or unsafe to load."""

    exit_code = 2


class CandidateError(NaspruneError):
    """One trial's candidate failed (build error, out of memory); the search records it and goes on."""


class DivergedError(NaspruneError):
    """Training produced a non-finite loss; the trial is stopped and recorded with the epoch."""


#: errno values that mean the disk (or the user's quota) is full
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full_message(exc: OSError) -> str:
    where = f" while writing {exc.filename}" if exc.filename else ""
    return (f"no space left on the device{where}; the study's finished trials are saved: free space (or move "
            f"--results-dir / --artifacts to a larger disk) and rerun the same command to resume")


class DiskFullError(NaspruneError):
    """The disk filled while saving; the trial being saved is recorded as such and the search stops."""


class StorageLostError(NaspruneError):
    """The study's database stopped answering during a search and did not come back within the retry window
    (nasprune.record.outage). Trials that finished before are safe in it; rerunning the same command resumes."""

    exit_code = 75  # EX_TEMPFAIL (sysexits.h): a temporary failure, the user is invited to retry


class ExportError(NaspruneError):
    """A network could not be exported (an operator a format cannot express), or an exported file's outputs
    differ from PyTorch's beyond the tolerance; nothing is left written in that case."""
