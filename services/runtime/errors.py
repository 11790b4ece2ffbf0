"""Errors that stop a service before it starts, with a message that says what to fix."""


class StartupRefused(RuntimeError):
    """The service's configuration is unsafe or incomplete; each line says what to set."""

    def __init__(self, *lines: str) -> None:
        super().__init__("; ".join(lines))
        self.lines = list(lines)
