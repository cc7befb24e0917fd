"""torchrun with the project's exit policy: `python -m handobjectconsist.training.launch` takes torchrun's own
arguments (same meaning) and differs only in how a stopped job ends.

    python -m handobjectconsist.training.launch --standalone --nproc_per_node 2 trainmeshreg.py --epochs 10 ...

torchrun itself answers a SIGINT / SIGTERM by forwarding it to the ranks (which stop together at a step
boundary, rank 0 printing one line that names the last saved checkpoint: training.distributed) and then exits with
status 1 and a traceback of its own. This launcher exits with 128 + the signal number (130 / 143), printing
nothing more; when a rank fails it exits with that rank's status, the rank's own "error: ..." line being the
report (torchrun's failure summary is not printed). torchrun's informational log lines are silenced.
"""

import logging
import signal
import sys
from typing import List, Optional

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import get_args_parser, run

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> int:
    """Run torchrun's `run` on argv; returns 0, the first failed rank's exit status, or 128 + signal number."""
    args = get_args_parser().parse_args(argv)
    for name in list(logging.root.manager.loggerDict):  # torch's elastic loggers each set their own level
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        run(args)
    except SignalException as err:
        return 128 + int(err.sigval)
    except ChildFailedError as err:
        statuses = [failure.exitcode for _, failure in sorted(err.failures.items())]
        first = next((code for code in statuses if code), 1)
        # A rank killed by a signal has a negative exit code (-signal), as subprocess reports it.
        return 128 - first if first < 0 else first
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
