"""Outbound webhooks (Standard Webhooks): signing, the address rule and the connector. No Django imports."""

from .addresses import AddressPolicy, AddressRefused, check_url
from .connector import NAME, Destination, WebhookConnector, serialize, signature_header

__all__ = [
    "NAME",
    "AddressPolicy",
    "AddressRefused",
    "Destination",
    "WebhookConnector",
    "check_url",
    "serialize",
    "signature_header",
]
