"""Commands imported when they run, not when the command line is parsed.

Every ``hub`` invocation builds the whole parser, so a module that a parser imports is loaded by
every command: ``hub send`` paid ~0.65 s for the audit store, SQLAlchemy and openpyxl it never
uses.  A parser names its command with :func:`later` instead.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from hub.core.config import Settings

Command = Callable[[argparse.Namespace, Settings], int]


def later(module: str, name: str) -> Command:
    """The command ``module.name``, imported at its first call."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        command: Command = getattr(importlib.import_module(module), name)
        return command(args, settings)

    run.__name__ = run.__qualname__ = name
    return run
