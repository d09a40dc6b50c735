"""The one exception type the CLI turns into a single line and exit code 2."""


class NoisylabError(Exception):
    """A problem with the user's input: what was wrong, where, and what to do.

    The message must be one line a person can act on. The CLI prints it as
    ``error: <message>`` and exits with code 2, without a traceback.
    """
