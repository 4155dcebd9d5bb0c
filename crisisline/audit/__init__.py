"""The tamper-evident audit trail: ``record`` in the same transaction, ``verify_chain``."""
from crisisline.audit.services import (  # noqa: F401  (the package's public surface)
    DENIED, FAILURE, SUCCESS, diff, record, record_read, verify_chain)
