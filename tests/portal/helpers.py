"""Asking for a sign-in link, opening it and signing in, as a referrer does in a browser."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client
from django.urls import reverse

from referloop.campaigns.models import Campaign, Referrer
from referloop.portal import links
from tests.public_forms import as_person
from tests.sent import outbox


def ask_for_link(campaign: Campaign, email: str, client: Client | None = None) -> Any:
    """Post the email on /c/<slug>/me/ as a person does (the form's signed timestamp, served a while ago)."""
    return (client or Client()).post(
        reverse("portal", args=[campaign.slug]), as_person(campaign, "portal", {"email": email})
    )


def emailed_token(to: str) -> str:
    """The token in the last sign-in email sent to `to`."""
    sent = [message for message in outbox() if message.to == [to] and "Sign in" in message.subject]
    assert sent, f"no sign-in email to {to}: {[m.to for m in outbox()]}"
    found = re.search(r"/c/[^/\s]+/me/in/([^/\s]+)/", sent[-1].body)
    assert found is not None, sent[-1].body
    return found.group(1)


def open_link(client: Client, campaign: Campaign, token: str, slug: str | None = None) -> Any:
    """Open the emailed link (opened under `slug` when given, as someone editing the URL would) and follow it: a
    usable link redirects to the Sign in button, any other is answered at once."""
    response = client.get(reverse("portal_link", args=[slug or campaign.slug, token]))
    if response.status_code != 302:
        assert response.status_code == 200, response.status_code
        return response
    return client.get(response["Location"])


def sign_in_with(client: Client, campaign: Campaign, token: str, slug: str | None = None) -> Any:
    """Open the link and press Sign in; the answer to the POST."""
    open_link(client, campaign, token, slug)
    return client.post(reverse("portal_sign_in", args=[slug or campaign.slug]))


def signed_in(referrer: Referrer, client: Client | None = None) -> Client:
    """A browser signed in to `referrer`'s page."""
    client = client or Client()
    response = sign_in_with(client, referrer.campaign, links.create(referrer))
    assert response.status_code == 302 and response["Location"] == reverse("portal", args=[referrer.campaign.slug])
    return client
