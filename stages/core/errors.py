"""The two kinds of failure a user can fix: bad params and bad input."""

# How much of a value an error message echoes: a 10 MB string is shown by its start.
SHOWN_CHARS = 60


class CatdogError(Exception):
    """A problem the user can fix; the CLI prints it as one line, without a traceback."""

    exit_code = 1


class ConfigError(CatdogError):
    """params.yaml, or a name given on the command line, is invalid."""

    exit_code = 2


def shown(value: object) -> str:
    """`value` as an error message echoes it: its repr, cut to SHOWN_CHARS and "…"."""
    return clipped(repr(value))


def clipped(text: str) -> str:
    """`text`, cut to SHOWN_CHARS characters and "…" when longer."""
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"
