"""Errors that fgclass reports to the user as a message, not a traceback."""


class FgclassError(Exception):
    """Base class: a problem with the user's data, config or files, with a message saying how to fix it."""


class DataError(FgclassError):
    """The dataset on disk is missing, malformed or unusable as configured."""


class CheckpointError(FgclassError):
    """A checkpoint or weights file cannot be used."""


class ConfigError(FgclassError):
    """A configuration value is invalid."""
