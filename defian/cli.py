"""The ``defian`` command: one entry point, one module per sub-command.

``defian book|train|evaluate|data|study|upscale ...`` dispatches to ``main(argv)`` of
:mod:`defian.runner.book`, :mod:`defian.train.loop`, :mod:`defian.report.evaluate`,
:mod:`defian.data.download`, :mod:`defian.report.study` and :mod:`defian.report.upscale`;
each parses its own arguments.

Bad input is answered here, once for every command, with one line and no traceback:
``defian <command>: <message>`` on stderr and exit status 2. Bad input is what
:data:`INPUT_ERRORS` lists (an unknown name, a missing or unwritable path, a file
that is not what it should be: the project's named errors, such as
:class:`defian.train.checkpoint.CheckpointError` or :class:`defian.data.images.ImageError`,
derive from :class:`ValueError`) and every argparse error, which argparse itself would
print under a multi-line usage text. Ctrl-C prints one line and exits with 130.
``DEFIAN_TRACEBACK=1`` re-raises instead, for a developer who wants the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator

__all__ = ["COMMANDS", "INPUT_ERRORS", "UsageError", "main"]

#: sub-command -> (module, one-line help). Explicit, so a reader can grep it.
COMMANDS: dict[str, tuple[str, str]] = {
    "book": ("defian.runner.book", "execute the notebooks under a profile and build the book"),
    "train": ("defian.train.loop", "train a model and write a run record"),
    "evaluate": ("defian.report.evaluate", "evaluate a checkpoint on the benchmarks"),
    "data": ("defian.data.download", "download DIV2K or the benchmark sets"),
    "study": ("defian.report.study", "list, run or publish the cpu study (the book's trained numbers)"),
    "upscale": ("defian.report.upscale", "super-resolve your own images with a trained or released DeFiAN"),
    "lfr-study": ("defian.lfr.study", "list, run or publish the reduced any-scale (LFR) study"),
    "ikm-study": ("defian.ikm.study", "list, run or publish the reduced IKM study (Part II)"),
}

#: Exceptions that mean bad input rather than a bug: a value or name (ValueError, and KeyError
#: from a name looked up in a table) or a path (OSError: missing, not a folder, not writable).
INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, OSError)
EXIT_BAD_INPUT = 2  # as argparse exits on a usage error
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


class UsageError(Exception):
    """An argparse error (unknown option, invalid choice), raised instead of printing usage."""


@contextlib.contextmanager
def _argparse_raises() -> Iterator[None]:
    """Make every ``ArgumentParser.error`` raise :class:`UsageError` while a command runs."""
    original = argparse.ArgumentParser.error

    def error(self: argparse.ArgumentParser, message: str) -> None:
        raise UsageError(f"{message} (see '{self.prog} --help')")

    argparse.ArgumentParser.error = error  # type: ignore[method-assign]
    try:
        yield
    finally:
        argparse.ArgumentParser.error = original  # type: ignore[method-assign]


def _one_line(err: BaseException) -> str:
    """The error's message on one line (a KeyError's name without repr quotes)."""
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines) or type(err).__name__


def _usage() -> str:
    lines = ["usage: defian <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'defian <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv[0]`` to its sub-command; return the exit status (2: bad input, 130: Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else EXIT_BAD_INPUT
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"defian: unknown command {name!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        module = importlib.import_module(COMMANDS[name][0])
        with _argparse_raises():
            return int(module.main(rest) or 0)
    except KeyboardInterrupt:
        print(f"defian {name}: interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UsageError, *INPUT_ERRORS) as err:
        if os.environ.get("DEFIAN_TRACEBACK"):
            raise
        print(f"defian {name}: {_one_line(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
