"""The one exception type that the CLI turns into a one-line message and exit status 1."""


class XpnetError(Exception):
    """An expected failure: bad input, missing data, unusable device.

    The message is a single line naming the problem and the fix.
    """


class UsageError(XpnetError):
    """A bad flag value found after argument parsing; the CLI exits with status 2."""
