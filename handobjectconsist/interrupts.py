"""SIGINT / SIGTERM handling for long runs: stop promptly, but never in the middle of a checkpoint write.

    with handle_interrupts():          # installed by handobjectconsist.entry.run_main
        ...
        check_interrupt()              # once per batch: raises Interrupted if a signal arrived
        record_only(True)              # torchrun: signals wait for a collective check (training.distributed)
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

__all__ = ["check_interrupt", "deferred_interrupts", "handle_interrupts", "pending_signal",
           "quiet_lost_fd_connections", "record_only", "signal_name"]

_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class _State:
    pending: Optional[int] = None  # the signal received and not yet raised to completion
    defer_depth = 0
    owner: Optional[int] = None  # pid of the process that installed the handler
    record_only = False  # a distributed run: signals are recorded and acted upon by a collective check only


def _quiet_excepthook(exc_type, exc, tb, _default=sys.excepthook) -> None:
    """sys.excepthook once a signal has arrived: the fd-passing thread losing its reader is not printed."""
    if not _is_lost_fd_connection(exc_type, tb):
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
    if _State.defer_depth == 0 and not _State.record_only:
        raise Interrupted(signal_name(signum))


def _is_lost_fd_connection(exc_type, tb) -> bool:
    """Whether an exception is a connection error of multiprocessing's fd-passing thread
    (multiprocessing.resource_sharer): the process at the other end stopped reading."""
    if not issubclass(exc_type, (ConnectionError, EOFError)):
        return False
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") == "multiprocessing.resource_sharer":
            return True
        tb = tb.tb_next
    return False


def quiet_lost_fd_connections(worker_id: Optional[int] = None) -> None:
    """In a DataLoader worker (usable as its worker_init_fn; worker_id unused): do not print a connection error of
    the thread that passes tensors' file descriptors to the main process (multiprocessing.resource_sharer, which
    reports through sys.excepthook). It means the main process stopped reading, which happens only when it stops
    (a signal, an error it reports itself); a worker that printed it would add a traceback to the run's one-line
    report. Every other exception is printed as before."""
    previous = sys.excepthook

    def hook(exc_type, exc, tb) -> None:
        if not _is_lost_fd_connection(exc_type, tb):
            previous(exc_type, exc, tb)

    sys.excepthook = hook


@contextmanager
def handle_interrupts() -> Iterator[None]:
    """Install the SIGINT / SIGTERM handler for the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _State.pending, _State.defer_depth, _State.owner, _State.record_only = None, 0, os.getpid(), False
    previous = {sig: signal.signal(sig, _handler) for sig in _NAMES}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _State.pending, _State.defer_depth, _State.record_only = None, 0, False


def check_interrupt() -> None:
    """Raise Interrupted if a signal arrived whose exception may have been swallowed (not in record_only mode)."""
    if _State.pending is not None and _State.defer_depth == 0 and not _State.record_only:
        raise Interrupted(signal_name(_State.pending))


def signal_name(signum: int) -> str:
    """"SIGINT" / "SIGTERM" (else the number as text)."""
    return _NAMES.get(signum, str(signum))


def pending_signal() -> Optional[int]:
    """The number of the signal received and not yet acted upon, else None."""
    return _State.pending


def record_only(enabled: bool) -> None:
    """enabled: the handler only records a signal, check_interrupt and deferred_interrupts do not raise; the run
    stops through a check of its own (training.distributed.stop_if_interrupted, so all ranks stop together)."""
    _State.record_only = enabled


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT / SIGTERM back until the block has finished; then raise Interrupted if one arrived."""
    _State.defer_depth += 1
    try:
        yield
    finally:
        _State.defer_depth -= 1
    check_interrupt()
