"""Errors meant for the user: their message says what went wrong and how to fix it."""


class UserError(Exception):
    """Bad input or a missing prerequisite; shown to the user as-is (CLI exit code 2, GUI error card)."""

    def __init__(self, message: str, *, hint: str = "", data: dict | None = None) -> None:
        super().__init__(message)
        self.hint = hint
        self.data = data or {}

    def to_dict(self) -> dict:
        return {"error": str(self), "type": type(self).__name__, "hint": self.hint, **self.data}
