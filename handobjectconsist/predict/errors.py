"""The one error type of the predict command: a user mistake, reported as one line naming the flag or file."""

from handobjectconsist.errors import UsageError


class PredictError(UsageError):
    """A bad flag value or an unusable input (frames, intrinsics, object mesh, output folder) of the predict
    command; the message names the flag or file and says what to do. handobjectconsist.entry.run_main prints it
    as one line "error: ..." and returns 1."""
