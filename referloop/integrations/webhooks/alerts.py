"""The email that says an endpoint was disabled (five days of failures, or 410 Gone), sent once per disabling.

The endpoint is disabled by a conditional update (enabled → disabled), so however many workers see its
failures at once, exactly one of them raises the notice; the email goes out after the results' commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from referloop.accounts.recipients import email_managers
from referloop.integrations.webhooks.models import WebhookEndpoint

logger = logging.getLogger(__name__)

# The screen of one endpoint, once the screens exist: /…/webhooks/<endpoint_id>/ named "webhook_endpoint".
ENDPOINT_URL_NAME = "webhook_endpoint"


@dataclass(frozen=True)
class EndpointDisabled:
    endpoint_id: int
    reason: str


def endpoint_link(endpoint: WebhookEndpoint) -> str:
    try:
        path = reverse(ENDPOINT_URL_NAME, kwargs={"endpoint_id": endpoint.pk})
    except NoReverseMatch:
        try:
            path = reverse("api_keys")
        except NoReverseMatch:
            path = "/"
    return settings.PUBLIC_BASE_URL + path


def compose(notice: EndpointDisabled, endpoint: WebhookEndpoint) -> tuple[str, str]:
    subject = f"[referloop] Webhook endpoint disabled: {endpoint.url}"
    body = (
        f"referloop stopped sending events to your webhook endpoint\n\n    {endpoint.url}\n\n"
        f"{notice.reason}\n\n"
        "Events are not lost: new ones are kept (held) while it is disabled. Once the receiver works again, "
        "send a test event, then enable the endpoint, and the held events are sent:\n"
        f"{endpoint_link(endpoint)}\n"
    )
    return subject, body


def send_notices(notices: Iterable[EndpointDisabled]) -> int:
    """Email each notice to the account's owners and admins; a failing mail server is logged, never raised."""
    sent = 0
    for notice in notices:
        endpoint = WebhookEndpoint.objects.filter(pk=notice.endpoint_id).first()
        if endpoint is None:
            continue
        subject, body = compose(notice, endpoint)
        sent += email_managers(
            endpoint.account_id, subject, body, about=f"webhook endpoint {endpoint.pk} was disabled"
        )
    return sent
