"""Emails as the delivery engine's database side sees them: where each claimed row goes, and the message.

Registered as the "email" destination kind (`integrations/apps.py`). A claim loads the rows' emails with their
account, campaign, referrer and lead in one query, and the campaigns' wordings and custom fields in two more,
however many rows; each message is rendered then, so its footer has the account's name and postal address as
they are now.

The destination is the account (its name on referloop's sender address); a referrer email of an account without
a postal address is held until the address is saved (`outbox.ADDRESS_MISSING`). Retries follow the engine's one
schedule; what counts as "may have been sent", and why such an email is never sent again automatically, is the
connector's business (`providers/email/connector.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from referloop.integrations.destinations import ConnectorOptions, Destined, Row
from referloop.integrations.engine.tries import Result
from referloop.notifications import outbox
from referloop.notifications.mailer import DjangoMailbox
from referloop.notifications.models import Email
from referloop.notifications.wording import custom_sources_by_campaign, message_for, sender_address, wordings_of
from referloop.providers.base import Connector
from referloop.providers.email import NAME, Destination, EmailConnector

logger = logging.getLogger(__name__)

LOST_TRY_SENTENCE = (
    "The worker sending this email stopped before it recorded an answer (its lease ran out), so the mail server "
    "may or may not have accepted it. It is not sent again automatically: check, then send it again from the "
    "referrer's page."
)


class EmailKind:
    """The "email" destination kind. It keeps nothing between claims."""

    name = NAME
    lost_try_sentence = LOST_TRY_SENTENCE
    credentials_hold_reason = "The mail server refused referloop's login."  # the connector never says CREDENTIALS

    def connector(self, options: ConnectorOptions) -> Connector:
        return EmailConnector(DjangoMailbox)

    def destinations(self, rows: Sequence[Row]) -> dict[int, Destined]:
        emails = Email.objects.filter(delivery__pk__in=[row.id for row in rows]).values_list(
            "delivery__pk", "notification", "account_id", "account__name", "account__postal_address"
        )
        found = {}
        for delivery_id, notification, account_id, business_name, postal_address in emails:
            destination = Destination(account_id=account_id, from_email=sender_address(business_name))
            found[delivery_id] = Destined(account_id, destination, outbox.hold_reason(notification, postal_address))
        return found

    def payloads(self, rows: Sequence[Row]) -> dict[int, Mapping[str, object]]:
        emails = list(
            Email.objects.filter(delivery__pk__in=[row.id for row in rows]).select_related(
                "delivery", "campaign__account", "referrer__campaign", "lead__referrer", "lead__campaign"
            )
        )
        campaigns = {email.campaign_id for email in emails}
        wordings = wordings_of(campaigns)
        customs = custom_sources_by_campaign(campaigns)
        payloads: dict[int, Mapping[str, object]] = {}
        for email in emails:
            delivery_id = email.delivery.pk
            try:
                wording = wordings[(email.campaign_id, email.notification)]
                payloads[delivery_id] = message_for(email, wording, customs.get(email.campaign_id, [])).as_payload()
            except Exception as exc:  # a bug must cost this email, not the claim of every destination
                logger.exception("email %s could not be rendered", email.pk)
                payloads[delivery_id] = {"error": f"referloop could not make the email ({type(exc).__name__})."}
        return payloads

    def after_results(self, applied: Sequence[tuple[Result, str]]) -> list[object]:
        return []  # an email's failure is its own: nothing to count towards a destination's health

    def send_notices(self, notices: Sequence[object]) -> None:
        pass

    def release_ready(self) -> int:
        # Saving the postal address on the Emails tab releases at once; this catches one set another way (admin).
        return outbox.release_addressed()
