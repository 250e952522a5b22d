"""The two kinds of failure a user can fix: bad params and bad input."""


class CatdogError(Exception):
    """A problem the user can fix; the CLI prints it as one line, without a traceback."""

    exit_code = 1


class ConfigError(CatdogError):
    """params.yaml, or a name given on the command line, is invalid."""

    exit_code = 2
