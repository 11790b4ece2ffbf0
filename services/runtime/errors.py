"""Errors that stop a service before it starts, with a message that says what to fix."""


class StartupRefused(RuntimeError):
    """The service's configuration is unsafe or incomplete; the message says what to set."""
