"""The exceptions pail raises: the message, causes and hint the CLI prints."""

from __future__ import annotations

from typing import Optional, Sequence


class PailError(Exception):
    """An error from pail, with the message, causes and hint the `pail` command prints.

    `exit_code` is the code the command would exit with: 1 for a `UserError` (the
    input, the arguments or the environment can be fixed), 2 for an `InternalError`
    (I/O, a damaged repository, a bug).
    """

    exit_code: int = 2

    def __init__(
        self,
        message: str,
        hint: Optional[str] = None,
        causes: Sequence[str] = (),
        exit_code: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.causes = list(causes)
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        lines = [self.message]
        lines += [f"  caused by: {cause}" for cause in self.causes]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


class UserError(PailError):
    """Something the user can fix (the CLI's exit code 1): a name, a ref, a row, a flag."""

    exit_code = 1


class InternalError(PailError):
    """I/O, a damaged repository or a bug (the CLI's exit code 2)."""

    exit_code = 2
