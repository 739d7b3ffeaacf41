"""Errors of the installer.

::

    InstallError
    ├── HelmError        helm failed; carries the command and the tail of its output
    └── UninstallError   instrumentation could not be taken out in time (names what is still instrumented)
"""

from __future__ import annotations


class InstallError(Exception):
    """Base of the installer's errors."""


class HelmError(InstallError):
    def __init__(self, command: list[str], output: str) -> None:
        super().__init__(f"`{' '.join(command)}` failed:\n{output[-3000:]}")
        self.command = command
        self.output = output


class UninstallError(InstallError):
    """Something Hodegos instrumented is still instrumented after the wait."""
