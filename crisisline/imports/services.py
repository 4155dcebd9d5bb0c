"""Importing the files schools and centres already keep: one mechanism for every kind.

A file is CSV (UTF-8 with or without BOM, or GB18030/GBK as Excel on Chinese Windows saves
it: detected) or XLSX (its first sheet). Its first row names the columns, in Chinese or by
their English names, in any order; an unknown, repeated or missing required column is a
problem of row 1. Each record type's row schema (``RowSchema``) lives with its domain, in
the domain's ``imports.py``; this module reads the file, hands each row to the schema and
reports what is wrong as ``第N行 列名: 原因``.

All or nothing: every row is checked first, streamed (a file of 100,000 rows is never held
in memory); only when no row has a problem is the file read again and every row saved, in
the caller's one transaction. A dry run does the whole import and rolls it back, so it
reports exactly what would be created, updated or left unchanged. One audit entry records
each import (who, which file, the counts), beside the entries of each change.
"""
from __future__ import annotations

import codecs
import tempfile
from contextlib import contextmanager
from collections import Counter
from abc import ABC, abstractmethod
import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from charset_normalizer import from_bytes
from flask import current_app
from flask_babel import lazy_gettext as _l

from crisisline import audit
from crisisline.database import db
from crisisline.errors import DomainError, InvalidInput

OUTCOMES = ("created", "updated", "unchanged")
SAMPLE_BYTES = 64 * 1024  # enough of a file to tell its encoding
XLSX_MAGIC = b"PK\x03\x04"  # an XLSX file is a zip archive
# what Excel and WPS on Chinese Windows call their "ANSI" encodings: GB18030 reads them all
CHINESE_ENCODINGS = {"gb2312", "gbk", "cp936", "gb18030", "hz"}


@dataclass(frozen=True)
class Column:
    name: str  # the English name, also accepted as a header
    header: str  # the Chinese header
    required: bool = False


class RowInvalid(Exception):
    """What is wrong with one row: each bad column's name mapped to a marked message."""

    def __init__(self, problems: dict[str, Any]):
        super().__init__(problems)
        self.problems = problems


class RowSchema(ABC):
    """A record type's rows: its columns, natural key, checks and saving (see the domains'
    ``imports.py``; the interface is documented in README "Setting up a district")."""

    kind: str
    label: Any
    columns: tuple[Column, ...] = ()
    # what an import of these rows needs besides the file, e.g. the screening campaign
    # ("campaign_id"), given in ``ImportRun.context``; the admin's import page offers
    # only the kinds that need nothing more
    needs: tuple[str, ...] = ()

    @abstractmethod
    def key(self, values: dict) -> tuple:
        """The natural key: two rows of one file with the same key are refused."""

    @abstractmethod
    def check(self, row: dict[str, str], run: ImportRun) -> dict:
        """Clean values for one row (each column's text, stripped), or
        :class:`RowInvalid` naming every bad column."""

    @abstractmethod
    def save(self, values: dict, run: ImportRun) -> str:
        """Create or update the record through the domain's services (never commit):
        "created", "updated" or "unchanged"."""


SCHEMAS: dict[str, type[RowSchema]] = {}


def register(schema: type[RowSchema]) -> type[RowSchema]:
    """Make ``schema`` importable by its ``kind``."""
    SCHEMAS[schema.kind] = schema
    return schema


def load_schemas() -> dict[str, type[RowSchema]]:
    """Every registered row schema (importing the domains' ``imports`` modules)."""
    for module in ("crisisline.district.imports", "crisisline.accounts.imports",
                   "casework.imports", "schoolnet.imports"):
        try:
            __import__(module)
        except ModuleNotFoundError as error:  # a domain without a row schema (yet)
            if not module.startswith(error.name or "\0"):
                raise
    return dict(sorted(SCHEMAS.items()))


@dataclass
class Problem:
    row: int  # as numbered in the file: the header is row 1
    column: str | None  # the column's Chinese header (None: about the whole row or file)
    message: Any  # a marked message

    def line(self):
        if self.column is None:
            return _l("Row %(row)d: %(problem)s", row=self.row, problem=self.message)
        return _l("Row %(row)d %(column)s: %(problem)s", row=self.row, column=self.column,
                  problem=self.message)


@dataclass
class ImportRun:
    """One import under way: what the schema may remember between rows (``seen``: keep it
    small, never whole rows), the importing user, what the import is for (``context``,
    e.g. the campaign), and the secrets of new users, shown once (``credentials``:
    (username, one-time link or temporary password))."""

    actor: Any = None
    context: dict = field(default_factory=dict)
    # what the schema counts beyond the outcomes, e.g. the warnings a screening raised
    counted: Counter = field(default_factory=Counter)
    seen: dict = field(default_factory=dict)
    credentials: list = field(default_factory=list)


@dataclass
class ImportReport:
    kind: str
    filename: str
    rows: int = 0
    counts: dict = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    problems: list[Problem] = field(default_factory=list)
    credentials: list = field(default_factory=list)
    counted: Counter = field(default_factory=Counter)  # the schema's own counts
    preview: list[dict] = field(default_factory=list)  # the first rows' values, as read

    @property
    def ok(self) -> bool:
        return not self.problems


class ImportRefused(InvalidInput):
    """Nothing was imported: each problem of the file, by row and column (for an API)."""

    def __init__(self, report: ImportReport):
        from crisisline.messages import shown
        super().__init__({}, _l("nothing was imported: %(count)d problems",
                                count=len(report.problems)))
        self.details["problems"] = [
            {"row": problem.row, "column": problem.column, "problem": str(shown(
                problem.message))} for problem in report.problems]


class UnreadableFile(InvalidInput):
    """The file is not a CSV or XLSX file this mechanism can read."""

    def __init__(self, message):
        super().__init__({"file": message}, message)


@contextmanager
def kept_upload(upload) -> Iterator[Path]:
    """An uploaded file (werkzeug's ``FileStorage``), saved under a random name in the
    instance folder for the length of the block, then removed."""
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(mode=0o700, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".upload") as kept:
        upload.save(kept)
        kept.flush()
        yield Path(kept.name)


def import_file(kind: str, path: str | Path, *, filename: str | None = None,
                dry_run: bool = False, actor=None, context: dict | None = None,
                progress: Callable[[str, float], None] | None = None,
                preview_rows: int = 0, problem_limit: int = 1000) -> ImportReport:
    """Import ``path`` as rows of ``kind``: check every row, then (when none has a problem)
    save them all in the current transaction and audit the import. The caller commits
    (unless ``dry_run``: then everything is rolled back here). ``progress`` is told the
    stage ("checking", "saving") and how much of the file is done (0 to 1)."""
    progress = progress or (lambda _stage, _done: None)
    schemas = load_schemas()
    if kind not in schemas:
        raise InvalidInput({"kind": _l("choose what the file holds")})
    schema = schemas[kind]()
    context = context or {}
    if missing := [name for name in schema.needs if context.get(name) is None]:
        raise InvalidInput({name: _l("required for this import") for name in missing})
    report = ImportReport(kind=kind, filename=filename or Path(path).name)
    run = ImportRun(actor=actor, context=context)
    seen_keys: dict[tuple, int] = {}
    for number, row, done in _rows(path, schema, report):
        progress("checking", done)
        report.rows += 1
        if len(report.preview) < preview_rows:
            report.preview.append(row)
        try:
            values = schema.check(row, run)
        except RowInvalid as invalid:
            report.problems += [Problem(number, _header(schema, name), message)
                                for name, message in invalid.problems.items()]
        else:
            key = schema.key(values)
            if key in seen_keys:
                report.problems.append(Problem(number, None, _l(
                    "the same record as row %(row)d", row=seen_keys[key])))
            else:
                seen_keys[key] = number
        if len(report.problems) >= problem_limit:
            break
    if report.problems:
        return report
    del seen_keys
    run.seen.clear()
    try:
        for number, row, done in _rows(path, schema, report):
            progress("saving", done)
            try:
                report.counts[schema.save(schema.check(row, run), run)] += 1
            except RowInvalid as invalid:  # what earlier rows of this file changed
                report.problems += [Problem(number, _header(schema, name), message)
                                    for name, message in invalid.problems.items()]
            except DomainError as refused:
                report.problems.append(Problem(number, None, _refusal(refused)))
        if report.problems:
            db.rollback()
            return report
        report.credentials, report.counted = run.credentials, run.counted
        audit.record("import.run", changes={
            "records": {"new": kind}, "file": {"new": report.filename},
            **{name: {"new": value} for name, value in context.items()},
            "rows": {"new": report.rows},
            **{outcome: {"new": count} for outcome, count in report.counts.items()}})
        if dry_run:
            db.rollback()
    except BaseException:
        db.rollback()
        raise
    return report


def _refusal(error: DomainError):
    """A service's refusal of a row, as one message (its fields' problems, or its own)."""
    fields = error.details.get("fields") or {}
    if not fields:
        return error.message
    from crisisline.messages import listing, problem_line
    return listing([problem_line(name, problem) for name, problem in fields.items()])


def _header(schema: RowSchema, name: str) -> str | None:
    for column in schema.columns:
        if column.name == name:
            return column.header
    return None


# -- reading the file ----------------------------------------------------------------

def _rows(path, schema: RowSchema, report: ImportReport
          ) -> Iterator[tuple[int, dict, float]]:
    """(row number, {column name: text}, share of the file read) for each non-empty data
    row; a problem with the header ends the file there (recorded in ``report``)."""
    cells = _cells(Path(path))
    header, _done = next(cells, (None, 0.0))
    if header is None:
        report.problems.append(Problem(1, None, _l("the file is empty")))
        return
    names, problems = _map_header(header, schema)
    if problems:
        report.problems += problems
        return
    for number, (values, done) in enumerate(cells, start=2):
        if not any(values):
            continue
        row = dict.fromkeys((column.name for column in schema.columns), "")
        extra = values[len(names):]
        if any(extra):
            report.problems.append(Problem(number, None, _l(
                "the row has more cells than the header has columns")))
            continue
        row.update(zip(names, values))
        yield number, row, done


def _map_header(header: list[str], schema: RowSchema) -> tuple[list[str], list[Problem]]:
    by_header = {}
    for column in schema.columns:
        by_header[column.header] = column.name
        by_header[column.name.lower()] = column.name
    names, problems, seen = [], [], set()
    for text in header:
        name = by_header.get(text) or by_header.get(text.lower())
        if name is None:
            problems.append(Problem(1, None, _l("unknown column “%(column)s”", column=text)
                                    if text else _l("a column has no name")))
        elif name in seen:
            problems.append(Problem(1, None, _l("the column “%(column)s” appears twice",
                                                column=text)))
        names.append(name)
        seen.add(name)
    for column in schema.columns:
        if column.required and column.name not in seen:
            problems.append(Problem(1, None, _l("the column “%(column)s” is missing",
                                                column=column.header)))
    return names, problems


def _cells(path: Path) -> Iterator[tuple[list[str], float]]:
    """Each row of the file as a list of stripped texts, with the share of the file read."""
    with path.open("rb") as raw:
        start = raw.read(SAMPLE_BYTES)
    if start.startswith(XLSX_MAGIC):
        yield from _xlsx_cells(path)
        return
    encoding = detect_encoding(start)
    size = max(path.stat().st_size, 1)
    with path.open("rb") as raw, io.TextIOWrapper(raw, encoding=encoding,
                                                  newline="") as text:
        try:
            for values in csv.reader(text):
                yield [value.strip() for value in values], min(raw.tell() / size, 1.0)
        except UnicodeDecodeError:
            raise UnreadableFile(_l("the file is neither UTF-8 nor GB18030/GBK text; save "
                                    "it as CSV (UTF-8) or XLSX")) from None
        except csv.Error:
            raise UnreadableFile(_l("the file is not a CSV file this can read; save it as "
                                    "CSV (UTF-8) or XLSX")) from None


def detect_encoding(sample: bytes) -> str:
    """The encoding of a CSV file that starts with ``sample``: UTF-8 (with or without BOM)
    or GB18030 (which reads GBK and GB2312), told apart by charset-normalizer."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    guess = from_bytes(sample, cp_isolation=["utf_8", "gb18030", "gbk", "big5"]).best()
    if guess is None or guess.encoding.replace("_", "").lower() not in CHINESE_ENCODINGS \
            | {"big5"}:
        raise UnreadableFile(_l("the file is neither UTF-8 nor GB18030/GBK text; save it "
                                "as CSV (UTF-8) or XLSX"))
    return "gb18030" if guess.encoding.replace("_", "").lower() in CHINESE_ENCODINGS \
        else guess.encoding


def _xlsx_cells(path: Path) -> Iterator[tuple[list[str], float]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException
    from zipfile import BadZipFile
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, KeyError, OSError):
        raise UnreadableFile(_l("the file is not an XLSX workbook this can read")) from None
    try:
        sheet = book.worksheets[0]
        rows = max(sheet.max_row or 1, 1)
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield [_cell_text(value) for value in values], min(number / rows, 1.0)
    finally:
        book.close()


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() \
            else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a 学号 or phone Excel stored as a number
    return str(value).strip()

