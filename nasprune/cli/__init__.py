"""The ``nasprune`` command line: parses arguments, calls the Python API, prints what it returns.

Errors a user can cause print one line (``nasprune: error: ...``) and exit with status 2; an interrupted command
exits with 130 (Ctrl-C) or 143 (SIGTERM) after saying what it left behind, whether or not its output still has a
reader (``| tee log`` ends with the same Ctrl-C).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from ..errors import DISK_FULL, NaspruneError, disk_full_message
from ..signals import exit_code, interrupt_on_signals, signal_name, signal_of
from .parser import build_parser
from .streams import guarded_streams, tell

__all__ = ["main", "build_parser"]


def _run(argv: Sequence[str] | None) -> int:
    from ..record import unmasked
    from .commands import COMMANDS, INTERRUPT_HINTS

    args = build_parser().parse_args(argv)
    # warnings of the library (a damaged cache rebuilt, a CUDA graph that fell back to eager) go to stderr
    logging.basicConfig(level=logging.WARNING, format="nasprune: %(levelname)s: %(message)s")
    try:
        # SIGTERM ends a run like Ctrl-C: trial recorded, resumable; a library's cleanup does not mask either
        with interrupt_on_signals(), unmasked():
            return COMMANDS[args.command](args)
    except NaspruneError as exc:
        tell(f"nasprune: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt as exc:
        hint = INTERRUPT_HINTS.get(args.command)
        tell(f"nasprune: interrupted ({signal_name(signal_of(exc))})" + (f"; {hint}" if hint else ""))
        return exit_code(exc)
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        tell(f"nasprune: error: {disk_full_message(exc)}")
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nasprune`` command; returns the exit status."""
    with guarded_streams():  # a closed pipe on stdout or stderr is not an error
        try:
            return _run(argv)
        except SystemExit as exc:  # argparse: --help, --version, a bad argument
            return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2


if __name__ == "__main__":
    sys.exit(main())
