"""The one exception type that reaches a user.

A ``CurricleError`` carries a single line that names the field or file at fault and what was
expected. The CLI prints it without a traceback and exits with status 2.
"""


class CurricleError(Exception):
    """A user-facing error: bad config, bad input file, missing path."""

    def __init__(self, message: str):
        # Keep it to one line: the CLI prints str(err) as is.
        super().__init__(" ".join(str(message).split()))
