"""SIGINT / SIGTERM handling for long runs: stop promptly, but never in the middle of a checkpoint write.

    with handle_interrupts():          # installed by handobjectconsist.entry.run_main
        ...
        check_interrupt()              # once per batch: raises Interrupted if a signal arrived
        with deferred_interrupts():    # e.g. around a checkpoint write: a signal waits until the block ends
            ...

The handler records the signal and raises Interrupted (a KeyboardInterrupt) right away, so blocking calls stop.
Python swallows exceptions raised inside __del__ methods and weakref callbacks ("Exception ignored in ..."), which
is where a Ctrl-C can land while DataLoader workers are shut down; the recorded signal is therefore raised again
by the next check_interrupt(), so a run can never continue after a signal. Forked workers inherit the handler;
there it does what Python does without it (KeyboardInterrupt for SIGINT, the default action for SIGTERM).
"""

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

from handobjectconsist.errors import Interrupted

__all__ = ["check_interrupt", "deferred_interrupts", "handle_interrupts"]

_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class _State:
    pending: Optional[int] = None  # the signal received and not yet raised to completion
    defer_depth = 0
    owner: Optional[int] = None  # pid of the process that installed the handler


def _quiet_excepthook(exc_type, exc, tb, _default=sys.excepthook) -> None:
    """sys.excepthook once a signal has arrived: a connection error is the workers dying with the run, as the
    fd-passing thread of DataLoader workers (multiprocessing.resource_sharer) reports; it is not printed."""
    if issubclass(exc_type, (ConnectionError, EOFError)):
        return
    _default(exc_type, exc, tb)


def _handler(signum, frame) -> None:
    if os.getpid() != _State.owner:  # a forked worker (DataLoader, Pool): behave as without this handler
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _State.pending = signum
    sys.excepthook = _quiet_excepthook  # the process is stopping: its worker threads may report dead connections
    if _State.defer_depth == 0:
        raise Interrupted(_NAMES.get(signum, str(signum)))


@contextmanager
def handle_interrupts() -> Iterator[None]:
    """Install the SIGINT / SIGTERM handler for the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _State.pending, _State.defer_depth, _State.owner = None, 0, os.getpid()
    previous = {sig: signal.signal(sig, _handler) for sig in _NAMES}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _State.pending, _State.defer_depth = None, 0


def check_interrupt() -> None:
    """Raise Interrupted if a signal arrived whose exception may have been swallowed."""
    if _State.pending is not None and _State.defer_depth == 0:
        raise Interrupted(_NAMES.get(_State.pending, str(_State.pending)))


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT / SIGTERM back until the block has finished; then raise Interrupted if one arrived."""
    _State.defer_depth += 1
    try:
        yield
    finally:
        _State.defer_depth -= 1
    check_interrupt()
