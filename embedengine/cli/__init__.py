"""The ``embedstudio`` command line: one subcommand per engine action, each with ``--json``.

Each area module (``encode``, ``word2vec``, ``docs``, ``images``) exposes ``register(subparsers)``;
a command's handler returns a result (dataclass or dict) that is printed as one JSON document with
``--json`` or as text via the command's ``format_text``.

Areas that live outside the engine come in as extra ``registrars``: the ``models`` area
(``models.cli.register``, which builds the ONNX models) is composed in by ``models.cli.main``, the
function behind the ``embedstudio`` command and ``python -m models``. The engine never imports the
``models`` package, so ``python -m embedengine.cli`` has every area but ``models``.

Errors: :func:`main` never lets a traceback reach the terminal. A :class:`UserError` (bad input, a missing
or damaged model, ...) is printed as-is (exit code 2); a full disk, a used-up quota, a read-only file
system or a denied permission (``OSError`` with ENOSPC, EDQUOT, EROFS, EACCES/EPERM) becomes one such
error saying which folder; with ``--json`` a usage error is one JSON error document too; anything else
is a bug: one error saying so (exit code 2), its traceback appended to ``data_home()/logs/cli-errors.log``.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import shutil
import sqlite3
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Optional, Sequence

from embedengine import __version__
from embedengine.errors import UserError
from embedengine.results import display_text
from embedengine.runtime import data_home
from embedengine.tasks import Cancelled

from .common import emit, emit_error

AREAS = ("encode", "word2vec", "docs", "images", "maps")
ERROR_LOG = Path("logs") / "cli-errors.log"  # under data_home()
ERROR_LOG_MAX_BYTES = 1 << 20  # then it is moved to cli-errors.log.1 and a new one started

Registrar = Callable[[argparse._SubParsersAction], None]  # adds one area's subcommands


class UsageError(UserError):
    """The command line itself is wrong (unknown option, a value that is not a number, ...)."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are raised (:class:`UsageError`), so :func:`main` can print them as JSON."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        error = UsageError(f"{self.prog}: {message}", hint=f"see `{self.prog} --help`")
        error.usage = self.format_usage().strip()
        raise error


def build_parser(registrars: Sequence[Registrar] = (), parser_class: type = argparse.ArgumentParser
                 ) -> argparse.ArgumentParser:
    """The parser with ``registrars`` (areas from outside the engine) first, then the engine's areas."""
    parser = parser_class(
        prog="embedstudio",
        description="Embed Studio: word vectors, semantic document search and image similarity, offline. "
        "Run with no arguments to open the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"embedstudio {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in registrars:
        register(subparsers)
    for area in AREAS:
        try:
            module = importlib.import_module(f"embedengine.cli.{area}")
        except ModuleNotFoundError as error:
            if error.name == f"embedengine.cli.{area}":
                continue  # area not present in this build
            raise
        module.register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None, registrars: Sequence[Registrar] = ()) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    before_parsing = argparse.Namespace(json="--json" in argv)
    try:
        parser = build_parser(registrars, parser_class=_Parser)
        args = parser.parse_args(argv)
    except UsageError as error:
        if not before_parsing.json:
            print(getattr(error, "usage", ""), file=sys.stderr)
        emit_error(error, before_parsing)
        return 2
    except Exception as error:  # noqa: BLE001 - an area that fails to load is a bug, reported like any other
        emit_error(bug_report(error, argv), before_parsing)
        return 2
    if not getattr(args, "handler", None):
        parser.print_help()
        return 1
    try:
        check_text_arguments(args)
        result = args.handler(args)
        emit(result, args)
    except UserError as error:
        emit_error(error, args)
        return 2
    except Cancelled:
        emit_error(UserError("cancelled"), args)
        return 130
    except KeyboardInterrupt:
        emit_error(UserError("interrupted"), args)
        return 130
    except BrokenPipeError:  # the reader went away (`… | head`): nothing more to say to it
        _silence_stdout()
        return 1
    except FileNotFoundError as error:
        named = error.filename or error.filename2
        message = f"{display_text(os.fsdecode(named))} does not exist" if named else display_text(str(error))
        emit_error(UserError(message, hint="check the name and the folder (a relative path starts at the current "
                                           "folder)", data={"type": "FileNotFoundError"}), args)
        return 2
    except Exception as error:  # noqa: BLE001 - no traceback reaches the terminal
        emit_error(system_error(error) or bug_report(error, argv), args)
        return 2
    return 0


# ---- arguments ---------------------------------------------------------------------------------
def _is_valid_text(value: str) -> bool:
    try:
        value.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def check_text_arguments(args: argparse.Namespace) -> None:
    """Refuse a text argument (a query, a word, ...) that is not valid UTF-8, as one clear error.

    Arguments Python could not decode arrive with surrogate escapes; a file or folder that exists under
    such a name is fine (the file system takes those bytes back), anything else cannot be searched for.
    """
    for name, value in vars(args).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, str) and not _is_valid_text(item) and not os.path.lexists(item):
                label = name.replace("_", " ")
                raise UserError(f"The {label} argument '{display_text(item)}' is not valid UTF-8 text.",
                                hint="Embed Studio reads command-line text as UTF-8: check the terminal's encoding "
                                     "(for example LANG=C.UTF-8) or retype the text.",
                                data={"argument": name})


# ---- system errors and bugs ----------------------------------------------------------------------
def _existing_folder(error: OSError) -> Path:
    """The nearest existing folder of the file the error is about (the data folder when it names none)."""
    named = error.filename or error.filename2
    candidate = Path(os.fsdecode(named)) if named else data_home()
    for folder in (candidate, *candidate.parents):
        if folder.is_dir():
            return folder
    return Path.cwd()


def _free_mb(folder: Path) -> Optional[float]:
    try:
        return shutil.disk_usage(folder).free / 1e6
    except OSError:
        return None


def _disk_full(folder: Path, quota: bool) -> UserError:
    free = _free_mb(folder)
    amount = f"{free:,.0f} MB free" if free is not None else "free space unknown"
    what = "your disk quota is used up" if quota else "the disk is full"
    return UserError(f"{what} ({amount} at {display_text(str(folder))})",
                     hint="free some space there and run the command again: what was saved before the disk filled "
                          "up is kept, and an index run carries on from where it stopped",
                     data={"folder": str(folder), "free_mb": free, "errno": errno.EDQUOT if quota else errno.ENOSPC})


def system_error(error: BaseException) -> Optional[UserError]:
    """A full disk, used-up quota, read-only file system or denied permission as one :class:`UserError`."""
    if isinstance(error, sqlite3.OperationalError) and (
            getattr(error, "sqlite_errorcode", None) == 13 or "disk is full" in str(error)):  # SQLITE_FULL
        return _disk_full(data_home(), quota=False)
    if not isinstance(error, OSError):
        return None
    code = error.errno
    if code == errno.ENOSPC:
        return _disk_full(_existing_folder(error), quota=False)
    if code == getattr(errno, "EDQUOT", -1):
        return _disk_full(_existing_folder(error), quota=True)
    named = error.filename or error.filename2
    where = display_text(os.fsdecode(named)) if named else display_text(str(_existing_folder(error)))
    if code == errno.EROFS:
        return UserError(f"{where} is on a read-only file system, so Embed Studio cannot write there",
                         hint="choose a folder on a writable disk (EMBEDSTUDIO_HOME moves Embed Studio's data folder)",
                         data={"path": where, "errno": code})
    if code in (errno.EACCES, errno.EPERM):
        return UserError(f"permission denied: {where}",
                         hint="check that you may read (and, to save there, write) this file or folder, "
                              "or choose another one", data={"path": where, "errno": code})
    return None


def error_log_path() -> Path:
    return data_home() / ERROR_LOG


def bug_report(error: BaseException, argv: Sequence[str]) -> UserError:
    """The error shown for an unexpected exception; its traceback is appended to :func:`error_log_path`."""
    name = type(error).__name__
    text = display_text(str(error).strip().splitlines()[0] if str(error).strip() else name)
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    log = error_log_path()
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        if log.exists() and log.stat().st_size > ERROR_LOG_MAX_BYTES:
            os.replace(log, log.with_name(log.name + ".1"))
        with open(log, "a", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} embedstudio {__version__} "
                         f"{' '.join(display_text(a) for a in argv)}\n{details}\n")
        hint = f"this is a bug in Embed Studio; the details were saved to {display_text(str(log))}"
    except OSError as log_error:
        hint = (f"this is a bug in Embed Studio; the details could not be saved to {display_text(str(log))} "
                f"({log_error.strerror or log_error})")
    return UserError(f"Something went wrong: {text} ({name}).", hint=hint, data={"type": name, "log": str(log)})


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
