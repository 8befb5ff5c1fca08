"""ServiceTitan connector: API client, token cache, field catalog, payload builder and error translator.

Plain Python with no Django imports, so it can be used and tested on its own.
"""

from ..mapping import SOURCE_FIELDS, CustomSource, FieldMapping, LeadRecord, SourceField, source_catalog
from .auth import TOKEN_CACHE, Credentials, Token, TokenCache, TokenKey, token_key
from .client import AsyncServiceTitanClient, ServiceTitanClient
from .environments import INTEGRATION, PRODUCTION, Environment, sandbox_environment
from .errors import (
    AmbiguousError,
    CredentialsRejected,
    PermanentError,
    ServiceTitanError,
    TransientError,
)
from .fields import TARGET_FIELDS, TargetField
from .mapping import default_mapping, missing_required_fields, validate_mapping
from .models import Address, Booking, BookingProviderTag, Invoice, Job
from .payload import FieldProblem, PayloadError, build_booking_body

__all__ = [
    "INTEGRATION",
    "PRODUCTION",
    "SOURCE_FIELDS",
    "TARGET_FIELDS",
    "TOKEN_CACHE",
    "Address",
    "AmbiguousError",
    "AsyncServiceTitanClient",
    "Booking",
    "BookingProviderTag",
    "Credentials",
    "CredentialsRejected",
    "CustomSource",
    "Environment",
    "FieldMapping",
    "FieldProblem",
    "Invoice",
    "Job",
    "LeadRecord",
    "PayloadError",
    "PermanentError",
    "ServiceTitanClient",
    "ServiceTitanError",
    "SourceField",
    "TargetField",
    "Token",
    "TokenCache",
    "TokenKey",
    "TransientError",
    "build_booking_body",
    "default_mapping",
    "missing_required_fields",
    "sandbox_environment",
    "source_catalog",
    "token_key",
    "validate_mapping",
]
