"""Imports every model module, so the metadata (and Alembic) sees every table."""
from casework import models as casework_models  # noqa: F401
from crisisline.access import models as access_models  # noqa: F401
from crisisline.accounts import models as account_models  # noqa: F401
from crisisline.audit import models as audit_models  # noqa: F401
from crisisline.database import Base  # noqa: F401
from crisisline.realtime import models as realtime_models  # noqa: F401
from hotline import models as hotline_models  # noqa: F401
from schoolnet import models as schoolnet_models  # noqa: F401

metadata = Base.metadata
