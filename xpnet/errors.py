"""The one exception type that the CLI turns into a one-line message and exit status 1."""


class XpnetError(Exception):
    """An expected failure: bad input, missing data, unusable device.

    The message is a single line naming the problem and the fix.
    """


class UsageError(XpnetError, ValueError):
    """A bad flag or argument value; the CLI exits with status 2. Also a ``ValueError``, as a
    Python caller passing a bad value would expect."""
