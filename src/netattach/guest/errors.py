"""Errors of the guest harness: each says what failed, why, and what to try."""

from __future__ import annotations

#: Exit code of ``python -m netattach.guest run`` when the guest failed to boot or the
#: harness itself failed (the command's own code is returned otherwise).
EXIT_GUEST_FAILED = 125
#: Exit code when the command did not finish within ``--timeout`` (as timeout(1)).
EXIT_TIMEOUT = 124


class GuestError(Exception):
    """The guest could not be prepared or run.

    ``what`` names the step that failed, ``why`` the cause, ``fix`` what to try.
    """

    def __init__(self, what: str, why: str, fix: str) -> None:
        super().__init__(f"{what}: {why}")
        self.what = what
        self.why = why
        self.fix = fix

    def one_line(self) -> str:
        """The error as one line for a person: what failed, why, and the fix."""
        return f"netattach.guest: {self.what}: {self.why} (try: {self.fix})"


class GuestTimeout(GuestError):
    """The command in the guest ran longer than its timeout; the guest was killed."""
