"""The error policy of every command-line entry point (trainmeshreg.py, trainmeshwarp.py, evalho3dv2.py,
visualize.py, reduce_fphab.py, the synth and fit tools, the demo).

    def main(argv=None) -> int:
        return run_main(run, argv)

- A UserError (handobjectconsist.errors; a bad flag, a missing or malformed file), a disk-full / read-only /
  permission OSError, or a UserError raised inside a DataLoader worker prints one line "error: ..." on stderr
  and returns 1.
- SIGINT (Ctrl-C) and SIGTERM stop the run with one line "error: interrupted by SIGINT; ..." and return
  128 + the signal number (130 / 143), like a shell does.
- Any other exception is a programming error and keeps its traceback.
- Figures are only written to files: run_main selects matplotlib's Agg backend before the command runs (library
  modules never choose a backend on import; without a command line, matplotlib's own default applies, Agg on a
  machine without a display).

Flags are checked while parsing: Parser prints "error: argument --flag: ..." (one line, plus "see --help") and
exits with status 2; number_flag builds the check of every numeric flag (finite, within a range; fraction_flag,
positive_int, non_negative_int, positive_float, non_negative_float and finite_float are the common ones). Flags kept
only so that the original's command lines run say so: warn_unused_flags logs one line "--flag has no effect: why"
for each of them given a value other than its default.
"""

import argparse
import logging
import math
import signal
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import matplotlib

from handobjectconsist.errors import Interrupted, UserError, describe_os_error, worker_user_error
from handobjectconsist.interrupts import handle_interrupts

__all__ = ["Parser", "finite_float", "fraction_flag", "non_negative_float", "non_negative_int", "number_flag",
           "positive_float", "positive_int", "run_main",
           "unused_flag_lines", "user_error_message", "warn_unused_flags"]

_SIGNAL_NUMBERS = {"SIGINT": int(signal.SIGINT), "SIGTERM": int(signal.SIGTERM)}


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line "error: ..." (no usage block) and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def number_flag(kind: type = float, minimum=None, maximum=None, *, open_minimum: bool = False,
                open_maximum: bool = False, also: Sequence = (), description: Optional[str] = None
                ) -> Callable[[str], object]:
    """argparse type: a finite number of `kind` (int or float) in [minimum, maximum] (None: no bound; open_*: the
    bound itself excluded), or one of the values `also` (e.g. -1 for "never"). The one validator of every numeric
    flag: nan and inf are always rejected, and the error says what is allowed (description, default: the range)."""
    left = "(-inf" if minimum is None else f"{'(' if open_minimum else '['}{minimum:g}"
    right = "inf)" if maximum is None else f"{maximum:g}{')' if open_maximum else ']'}"
    noun = "an integer" if kind is int else "a number"
    allowed = description or f"{noun} in {left}, {right}" + "".join(f" or {value:g}" for value in also)

    def check(text: str):
        value = _number(text, kind)
        if value in also:
            return value
        below = minimum is not None and (value < minimum or (open_minimum and value == minimum))
        above = maximum is not None and (value > maximum or (open_maximum and value == maximum))
        if not math.isfinite(value) or below or above:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text}")
        return value

    check.__name__ = allowed
    return check


# The checks most flags use (all built by number_flag).
fraction_flag = number_flag(float, 0, 1, open_minimum=True, description="in (0, 1] (a fraction of the frames)")
positive_int = number_flag(int, 1, description="a positive integer")
non_negative_int = number_flag(int, 0, description="0 or a positive integer")
positive_float = number_flag(float, 0, open_minimum=True, description="a positive number")
non_negative_float = number_flag(float, 0, description="0 or a positive number")
finite_float = number_flag(float, description="a finite number")


def unused_flag_lines(args: argparse.Namespace, parser: argparse.ArgumentParser, reasons: Dict[str, str]) -> List[str]:
    """"--flag has no effect: why" for each flag of `reasons` (argparse dest -> why) set to a non-default value."""
    return [f"--{dest} has no effect: {why}" for dest, why in reasons.items()
            if getattr(args, dest, None) != parser.get_default(dest)]


def warn_unused_flags(args: argparse.Namespace, parser: argparse.ArgumentParser, reasons: Dict[str, str],
                      logger: logging.Logger) -> None:
    """Log unused_flag_lines(...) as warnings, one line each (the run continues)."""
    for line in unused_flag_lines(args, parser, reasons):
        logger.warning(line)


def _number(text: str, kind: type):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}")
    return value


def user_error_message(err: BaseException, user_errors: Tuple[type, ...] = ()) -> Optional[str]:
    """The one-line message for err if it is the user's to fix (see the module docstring), else None."""
    if isinstance(err, UserError) or (user_errors and isinstance(err, user_errors)):
        return worker_user_error(err) or str(err)
    written = describe_os_error(err)
    if written is not None:
        return written
    return worker_user_error(err)


def run_main(run: Callable[[Optional[Sequence[str]]], object], argv: Optional[Sequence[str]] = None,
             user_errors: Tuple[type, ...] = ()) -> int:
    """Call run(argv) under the policy of the module docstring and return the exit status (run's own return value
    when it is an int, else 0).

    user_errors: further exception classes to report as one line (for callers whose errors predate UserError).
    """
    matplotlib.use("Agg")
    try:
        with handle_interrupts():
            result = run(argv)
    except KeyboardInterrupt as err:
        interrupt = err if isinstance(err, Interrupted) else Interrupted("SIGINT")
        if not interrupt.quiet:  # quiet: a torchrun rank other than 0, whose rank 0 reports the stop
            print(f"error: {interrupt}", file=sys.stderr)
        return 128 + _SIGNAL_NUMBERS.get(interrupt.signal_name, int(signal.SIGINT))
    except Exception as err:
        message = user_error_message(err, user_errors)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    return result if isinstance(result, int) and not isinstance(result, bool) else 0
