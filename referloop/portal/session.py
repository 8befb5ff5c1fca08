"""Who is signed in to a campaign's referrer page in this browser: one key of the Django session per campaign.

Not a Django user login: a referrer is not a User, and an owner logged in to referloop in the same browser (one
trying out their own program) must keep their login as it is, neither replaced nor widened. The key names one
referrer of one campaign and the address they proved they own; it opens that referrer's page in that campaign
and nothing else (every other view reads `request.user`, which this never touches).

Signing in rotates the session id (`cycle_key`, as django.contrib.auth.login does), so an id planted in the
browser before (session fixation) is worthless after; signing out rotates it again. A sign-in lasts
SIGNED_IN_FOR from the moment it happened, however long other use keeps the session alive, and ends at once
when the referrer's email is changed or the referrer is deleted: the key no longer matches.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from referloop.campaigns.models import Campaign, Referrer

SIGNED_IN_FOR = timedelta(days=14)


def _key(campaign_id: int) -> str:
    return f"_portal_referrer:{campaign_id}"


def sign_in(request: HttpRequest, referrer: Referrer) -> None:
    request.session.cycle_key()
    request.session[_key(referrer.campaign_id)] = {
        "referrer": referrer.pk,
        "email": referrer.email.lower(),
        "at": int(timezone.now().timestamp()),
    }


def sign_out(request: HttpRequest, campaign: Campaign) -> None:
    request.session.pop(_key(campaign.pk), None)
    request.session.cycle_key()


def signed_in_referrer(request: HttpRequest, campaign: Campaign) -> Referrer | None:
    """The referrer signed in to this campaign's page in this session, or None."""
    data: Any = request.session.get(_key(campaign.pk))
    if not isinstance(data, dict):
        return None
    referrer_id, email, at = data.get("referrer"), data.get("email"), data.get("at")
    if not isinstance(referrer_id, int) or not isinstance(email, str) or not isinstance(at, int):
        return None
    if timezone.now().timestamp() - at > SIGNED_IN_FOR.total_seconds():
        request.session.pop(_key(campaign.pk), None)
        return None
    referrer = Referrer.objects.select_related("campaign__account").filter(pk=referrer_id, campaign=campaign).first()
    if referrer is None or referrer.email.lower() != email:
        request.session.pop(_key(campaign.pk), None)
        return None
    return referrer
