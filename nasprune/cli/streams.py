"""Output that survives a closed pipe.

``nasprune search ... 2>&1 | tee log`` is the usual way to keep a log; Ctrl-C there reaches ``tee`` too, which
exits at once, so everything nasprune writes afterwards (the interrupted trial's line, the resume hint) meets a
closed pipe. By the Unix convention that is not an error: the stream is switched to /dev/null and the command
goes on to record its trial and exit with the signal's status (130, 143). A line that must reach the user (the
resume hint) goes to the first of stderr, stdout and the terminal that can still take it.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Iterator

__all__ = ["PipeSafe", "guarded_streams", "tell"]


class PipeSafe(io.TextIOBase):
    """A text stream that forwards to ``target`` until a write or flush finds its pipe closed, then to nothing."""

    def __init__(self, target: io.TextIOBase) -> None:
        self.target = target
        self.closed_pipe = False

    def _guard(self, exc: OSError) -> None:
        if not isinstance(exc, BrokenPipeError) and exc.errno != errno.EPIPE:
            raise exc
        self.closed_pipe = True
        with contextlib.suppress(OSError, ValueError):  # the interpreter's last flush must not fail either
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.target.fileno())

    def write(self, text: str) -> int:
        if not self.closed_pipe:
            try:
                self.target.write(text)
                if "\n" in text:  # a closed pipe shows on the flush: find out at the line, not at exit
                    self.target.flush()
            except OSError as exc:
                self._guard(exc)
        return len(text)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self.target.flush()
            except OSError as exc:
                self._guard(exc)

    def isatty(self) -> bool:
        return not self.closed_pipe and self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")


@contextlib.contextmanager
def guarded_streams() -> Iterator[None]:
    """Within the block, stdout and stderr are :class:`PipeSafe`."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = PipeSafe(sys.stdout), PipeSafe(sys.stderr)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = saved


def tell(text: str) -> None:
    """Write a line the user must see (an error, the resume hint) to stderr, or where that pipe is closed to
    stdout, or where both are to the controlling terminal."""
    for stream in (sys.stderr, sys.stdout):
        if not getattr(stream, "closed_pipe", False):
            stream.write(text + "\n")
            stream.flush()
            if not getattr(stream, "closed_pipe", False):
                return
    with contextlib.suppress(OSError), open("/dev/tty", "w") as tty:
        tty.write(text + "\n")
