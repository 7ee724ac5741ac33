"""Errors a user can cause and fix: shown by the CLI as one line, never a traceback."""


class UserError(Exception):
    """A bad input or setting; the message names the bad value and the way out."""
