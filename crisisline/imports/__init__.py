"""Importing the district from files (see ``services``); each domain's row schema lives in
its own ``imports.py`` and registers itself here."""
from crisisline.imports.services import (Column, ImportRefused, ImportReport, ImportRun,
                                         Problem, RowInvalid, RowSchema, UnreadableFile,
                                         detect_encoding, import_file, kept_upload,
                                         load_schemas, register)

__all__ = ["Column", "ImportRefused", "ImportReport", "ImportRun", "Problem", "RowInvalid",
           "RowSchema", "UnreadableFile", "detect_encoding", "import_file", "kept_upload",
           "load_schemas", "register"]
