"""The ``defian`` command: one entry point, one module per sub-command.

``defian book|train|evaluate|data|study ...`` dispatches to ``main(argv)`` of
:mod:`defian.runner.book`, :mod:`defian.train.loop`, :mod:`defian.report.evaluate`,
:mod:`defian.data.download` and :mod:`defian.report.study`; each parses its own arguments.
"""

from __future__ import annotations

import importlib
import sys

#: sub-command -> (module, one-line help). Explicit, so a reader can grep it.
COMMANDS: dict[str, tuple[str, str]] = {
    "book": ("defian.runner.book", "execute the notebooks under a profile and build the book"),
    "train": ("defian.train.loop", "train a model and write a run record"),
    "evaluate": ("defian.report.evaluate", "evaluate a checkpoint on the benchmarks"),
    "data": ("defian.data.download", "download DIV2K or the benchmark sets"),
    "study": ("defian.report.study", "list, run or publish the cpu study (the book's trained numbers)"),
}


def _usage() -> str:
    lines = ["usage: defian <command> [options]", "", "commands:"]
    lines += [f"  {name:<9} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'defian <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv[0]`` to its sub-command; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"defian: unknown command {name!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
