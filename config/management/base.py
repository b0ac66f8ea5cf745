"""The base of every operator command of this project (``backup``, ``restore``, ``purge``, ``doctor`` …).

**One-line errors.**  Whatever goes wrong — a bad flag, a missing file, an unwritable ``--output``, a
wrong ``DATABASE_URL``, a database error, Ctrl-C — the command prints exactly one line, ``error: …``, on
stderr and exits non-zero (2 for a usage error, 130 when interrupted, else 1 or the ``CommandError``'s
own code).  No traceback, no argparse usage block; ``--traceback`` still shows the traceback.  Run from
the command line, a command that needs the database first opens one direct connection with a short
timeout, so a wrong ``DATABASE_URL`` is one precise line in seconds (not a pool timeout after ten,
preceded by a screen of pool warnings).

**Progress.**  Long commands (``progress_option = True``) accept ``--progress`` / ``--no-progress``;
the default shows bars only when stderr is a terminal.  Bars (tqdm) go to stderr, so stdout stays what
scripts parse (``purge --json``, CSV).

Django's ``BaseCommand.run_from_argv`` prints ``CommandError: …`` and lets argparse print its usage
block; ``OperatorCommand.run_from_argv`` replaces it, using only ``create_parser``, ``execute`` and
``handle_default_options`` (``config/tests/test_operator_errors.py`` runs every command through it).
"""

from __future__ import annotations

import logging
import shutil
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, SystemCheckError, handle_default_options
from django.db import DatabaseError, connections
from django.utils.connection import ConnectionDoesNotExist


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def describe(exc: BaseException, command: str) -> tuple[str, int]:
    """``(message, exit status)`` for an error that ends ``command``."""
    from config.errors import ApplicationError

    if isinstance(exc, CommandError):
        message = _first_line(exc)
        if message.startswith("Error: "):  # argparse's complaint, raised by Django's parser
            message = f"{command}: {message[len('Error: '):]} (see `manage.py {command} --help`)"
        return message, getattr(exc, "returncode", 1)
    if isinstance(exc, ConnectionDoesNotExist):
        return f"{command}: --database: {_first_line(exc)}", 1
    if isinstance(exc, KeyboardInterrupt):
        return f"{command}: interrupted", 130
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"{command}: {exc.strerror or _first_line(exc) or exc.__class__.__name__}{where}", 1
    if isinstance(exc, DatabaseError):
        text = _first_line(exc)
        hint = "; is it migrated? (`manage.py migrate`)" if ("no such table" in text or "does not exist" in text) else ""
        return f"{command}: database error ({exc.__class__.__name__}: {text}){hint}", 1
    if isinstance(exc, ApplicationError):
        return f"{command}: {exc.message}", 1
    if isinstance(exc, ImproperlyConfigured):
        return f"{command}: configuration: {_first_line(exc)}", 1
    return f"{command}: {exc.__class__.__name__}: {_first_line(exc)} (rerun with --traceback for details)", 1


class _ProgressStream:
    """tqdm → the command's stderr wrapper, verbatim (no added newline, no error colouring)."""

    def __init__(self, out):
        self._out = out

    def write(self, text: str) -> None:
        self._out.write(text, style_func=lambda s: s, ending="")

    def flush(self) -> None:
        self._out.flush()

    def __getattr__(self, name):
        return getattr(self._out, name)


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


class OperatorCommand(BaseCommand):
    #: Probe the database (one direct connection) before ``handle`` when run from the command line.
    requires_database = True
    #: Accept ``--progress`` / ``--no-progress`` (bars on stderr; default: when stderr is a terminal).
    progress_option = False

    _command_name = ""
    _show_progress = False

    def create_parser(self, prog_name, subcommand, **kwargs):
        self._command_name = subcommand
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        if self.progress_option:
            group = parser.add_mutually_exclusive_group()
            group.add_argument("--progress", dest="progress", action="store_true", default=None,
                               help="show progress bars on stderr (default: only when stderr is a terminal)")
            group.add_argument("--no-progress", dest="progress", action="store_false",
                               help="never show progress bars")
        return parser

    @property
    def command_name(self) -> str:
        return self._command_name or self.__class__.__module__.rsplit(".", 1)[-1]

    # --- progress --------------------------------------------------------------------------------
    def execute(self, *args, **options):
        choice = options.get("progress")
        self._show_progress = bool(self.stderr.isatty()) if choice is None else bool(choice)
        if "stderr" in options and choice is None:  # call_command(stderr=buffer): not a terminal
            self._show_progress = False
        return super().execute(*args, **options)

    def progress(self, *, total: float | None = None, desc: str = "", unit: str = "it", unit_scale: bool = False):
        """A progress bar on stderr (``update(n)``, ``close()``, a context manager), or a no-op."""
        if not self._show_progress:
            return _NoProgress()
        from tqdm import tqdm

        # COLUMNS, else the terminal's width, else 80 (a terminal reporting 0 columns would hide the bar)
        width = shutil.get_terminal_size().columns
        return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit_scale, file=_ProgressStream(self.stderr),
                    mininterval=0.2, leave=True, ncols=width)

    def note(self, text: str) -> None:
        """A progress line on stderr, shown when the bars are (``--progress`` or a terminal)."""
        if self._show_progress:
            self.stderr.write(text, style_func=lambda s: s)

    # --- one-line errors ---------------------------------------------------------------------------
    def fail(self, message: str, returncode: int = 1):
        self.stderr.write(f"error: {message}")
        sys.exit(returncode)

    def run_from_argv(self, argv):
        self._command_name = argv[1]
        # The parser is built as for call_command (not "from the command line"): a bad flag raises
        # CommandError instead of argparse printing a usage block and exiting.
        parser = self.create_parser(argv[0], argv[1])
        try:
            options = parser.parse_args(argv[2:])
        except CommandError as exc:
            message, _ = describe(exc, self.command_name)
            self.fail(message, 2)
        self._called_from_command_line = True
        cmd_options = vars(options)
        args = cmd_options.pop("args", ())
        handle_default_options(options)
        # The pool's own warnings would repeat, many times over, the one line said below.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
        try:
            if self.requires_database:
                from config.dbtools import connection_problem

                problem = connection_problem()
                if problem:
                    raise CommandError(problem)
            self.execute(*args, **cmd_options)
        except SystemCheckError as exc:  # formats itself (several checks, several lines)
            if options.traceback:
                raise
            self.stderr.write(str(exc), lambda x: x)
            sys.exit(exc.returncode)
        except (Exception, KeyboardInterrupt) as exc:
            if options.traceback:
                raise
            message, code = describe(exc, self.command_name)
            self.fail(message, code)
        finally:
            try:
                connections.close_all()
            except Exception:  # noqa: BLE001 - nothing left to report about
                pass
