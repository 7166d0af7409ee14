"""The ``realtime`` command line: one parser, one subcommand per module in ``commands``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from realtime import __version__
from realtime.cli.commands import (
    batch,
    bench,
    demo,
    export,
    image,
    styles,
    train,
    video,
    webcam,
)
from realtime.cli.commands import (
    eval as eval_command,
)
from realtime.core.errors import (
    EXIT_DAMAGED_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    UserError,
)
from realtime.core.extras import EXTRA_OF_MODULE, missing_message, missing_module
from realtime.core.log import setup_logging
from realtime.core.progress import drop_progress_bars
from realtime.core.signals import (
    end_with_parent,
    exit_process,
    sigterm_raises,
    stop_cause,
    terminated,
)

# Order here is the order in ``realtime --help``. Imported, not looked up by name: a command
# whose module fails to import is a failure of the whole program, never a missing command.
COMMANDS = (demo, video, image, webcam, batch, styles, train, export, bench, eval_command)


class CommandLineParser(argparse.ArgumentParser):
    """argparse, reporting like the rest of the program: every bad option (a wrong type, an
    unknown flag, a missing argument) is one ``realtime: error:`` line and exit code 2.
    Subcommand parsers are of the same class (argparse creates them from the parent's)."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(
        prog="realtime",
        description="Real-time neural style transfer for video files, images and webcams.",
    )
    parser.add_argument("--version", action="version", version=f"realtime {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more detail on stderr (repeatable)"
    )
    parser.add_argument(
        "-q", "--quiet-notes", action="store_true", help="only warnings and errors on stderr"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    _add_verbosity_everywhere(subparsers)
    return parser


def _add_verbosity_everywhere(subparsers: argparse._SubParsersAction) -> None:
    """-q and -v after the command too (``realtime video IN OUT -q``), as users type them.
    Absent there (SUPPRESS), they leave what was given before the command untouched."""
    for parser in set(subparsers.choices.values()):
        parser.add_argument(
            "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        parser.add_argument(
            "-q",
            "--quiet-notes",
            action="store_true",
            default=argparse.SUPPRESS,
            help="only warnings and errors on stderr (also before the command)",
        )
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_verbosity_everywhere(action)


def run() -> NoReturn:
    """The ``realtime`` command and ``python -m realtime``: ``main``, then the exit."""
    exit_process(main())


def main(argv: Sequence[str] | None = None) -> int:
    # SIGTERM (kill, timeout, systemd, Docker) takes Ctrl-C's path for the whole command: the
    # outputs are finalised as on Ctrl-C, and the exit code says which signal it was.
    end_with_parent()
    with sigterm_raises():
        code = _main(argv)
        if terminated() and code in (EXIT_OK, EXIT_DAMAGED_INPUT, EXIT_INTERRUPTED):
            return EXIT_TERMINATED
        return code


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        # Inside the handler: an option's own parser (--output-size, ...) raises UserError
        # while the arguments are parsed, and must report like every other bad input.
        args = parser.parse_args(argv)
        setup_logging(-1 if args.quiet_notes else args.verbose)
        return int(args.run(args) or 0)
    except UserError as exc:
        drop_progress_bars()  # the error starts a line of its own, not the bar's end
        print(f"realtime: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        # The commands check their optional parts before importing them (require_torch,
        # import_ray, ...); this is the net under a path that missed it: still one line that
        # names the extra, not a traceback, where an optional part is simply not installed.
        module = (exc.name or "").partition(".")[0]
        if module not in EXTRA_OF_MODULE or missing_module(module) is None:
            raise  # not an optional part, or a broken install of one: the traceback helps
        print(f"realtime: error: {missing_message('this command', module)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Terminated (SIGTERM) too
        drop_progress_bars()
        print(f"realtime: {stop_cause()}", file=sys.stderr)
        return EXIT_TERMINATED if terminated() else EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
