"""Errors a user can fix: the CLI prints them as one line (exit code 2), never a traceback."""


class UserError(Exception):
    """Something the user can fix; the message says what and how."""
