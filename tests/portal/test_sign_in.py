"""Signing in to the referrer's page by a one-time link: asked for by email, it works once, for 30 minutes, in its
own campaign only, and the form tells nobody who is a referrer."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from referloop.campaigns.models import Referrer
from referloop.portal import links, session
from referloop.portal.models import SignInLink
from tests.campaigns.test_email_verification import BrokenMailServer
from tests.campaigns.test_no_leaks import page_of
from tests.conftest import Tenant
from tests.notifications.backends import HeldUntilReleased
from tests.portal.helpers import ask_for_link, emailed_token, open_link, sign_in_with, signed_in
from tests.public_forms import as_person
from tests.sent import outbox

pytestmark = pytest.mark.django_db


def page_url(tenant: Tenant) -> str:
    return reverse("portal", args=[tenant.campaign.slug])


def is_signed_in(client: Client, tenant: Tenant) -> bool:
    return "Your referral link" in client.get(page_url(tenant)).content.decode()


# -- asking for a link ----------------------------------------------------------------------------------------------


def test_a_referrer_who_asks_is_emailed_a_link_that_signs_them_in(tenant: Tenant) -> None:
    response = ask_for_link(tenant.campaign, tenant.referrer.email.upper())

    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()
    [message] = outbox()
    assert message.to == [tenant.referrer.email]
    assert message.subject == f"Sign in to your {tenant.account.name} referral page"
    assert "works once, for 30 minutes" in message.body
    client = Client()
    answer = sign_in_with(client, tenant.campaign, emailed_token(tenant.referrer.email))
    assert answer.status_code == 302 and answer["Location"] == page_url(tenant)
    assert is_signed_in(client, tenant)


def test_the_page_answers_before_the_mail_server_is_spoken_to(tenant: Tenant, settings: Any) -> None:
    # A known address must not answer later than an unknown one: the email goes out after the response.
    settings.EMAIL_BACKEND = "tests.notifications.backends.HeldUntilReleased"
    HeldUntilReleased.reset()

    response = ask_for_link(tenant.campaign, tenant.referrer.email)

    assert response.status_code == 200 and "Check your inbox" in response.content.decode()
    assert not mail.outbox  # the send is still held by the mail server
    HeldUntilReleased.release()
    assert [message.to for message in outbox()] == [[tenant.referrer.email]]


def test_an_address_that_is_no_referrer_here_gets_the_same_page_and_no_email(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    # The other campaign's referrer, with an address that is not a referrer of this campaign.
    elsewhere = other_tenant.referrer.email
    known = ask_for_link(tenant.campaign, tenant.referrer.email)
    strangers = [ask_for_link(tenant.campaign, "nobody@example.com"), ask_for_link(tenant.campaign, elsewhere)]

    status, templates, body = page_of(known)
    for stranger, address in zip(strangers, ["nobody@example.com", elsewhere], strict=True):
        assert page_of(stranger) == (status, templates, body.replace(tenant.referrer.email, address))
    assert [message.to for message in outbox()] == [[tenant.referrer.email]]


def test_the_form_is_bot_guarded_like_the_other_public_forms(tenant: Tenant) -> None:
    response = Client().post(page_url(tenant), {"email": tenant.referrer.email})  # no signed timestamp

    assert response.status_code == 400
    assert "Please check your details and send the form again." in response.content.decode()
    assert not outbox()


def test_a_form_from_another_page_is_refused(tenant: Tenant) -> None:
    data = as_person(tenant.campaign, "join", {"email": tenant.referrer.email})  # the join form's timestamp
    response = Client().post(page_url(tenant), data)

    assert response.status_code == 400
    assert not outbox()


def test_the_optional_captcha_guards_the_form_too(tenant: Tenant, settings: Any) -> None:
    settings.CAPTCHA_PROVIDER = "turnstile"
    settings.CAPTCHA_SITE_KEY = "site-key-3b1d"
    settings.CAPTCHA_SECRET = "0x-captcha-secret-4f9a2c77e1"
    settings.CAPTCHA_VERIFY_URL = "http://127.0.0.1:9/siteverify"  # never asked: the post carries no token

    form = Client().get(page_url(tenant)).content.decode()
    response = ask_for_link(tenant.campaign, tenant.referrer.email)

    assert 'data-sitekey="site-key-3b1d"' in form
    assert response.status_code == 400
    assert "Please complete the check that shows you&#x27;re not a robot" in response.content.decode()
    assert not outbox()


def test_an_address_is_sent_three_links_an_hour_and_the_page_never_says_so(tenant: Tenant) -> None:
    answers = [ask_for_link(tenant.campaign, tenant.referrer.email) for _ in range(4)]

    assert len(outbox()) == 3
    assert all(page_of(answer) == page_of(answers[0]) for answer in answers)  # the fourth looks like the others


def test_one_client_asking_too_often_is_asked_to_try_later(tenant: Tenant, settings: Any) -> None:
    settings.PUBLIC_FORM_IP_RATE = "2/10m"
    client = Client()
    for address in ("a@example.com", "b@example.com"):
        assert ask_for_link(tenant.campaign, address, client).status_code == 200

    response = ask_for_link(tenant.campaign, tenant.referrer.email, client)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Please try again later" in response.content.decode()
    assert not outbox()


def test_a_mail_server_that_is_down_is_said_to_every_address_alike(tenant: Tenant, settings: Any) -> None:
    settings.EMAIL_BACKEND = f"{BrokenMailServer.__module__}.BrokenMailServer"

    known = ask_for_link(tenant.campaign, tenant.referrer.email)
    stranger = ask_for_link(tenant.campaign, "nobody@example.com")

    assert known.status_code == stranger.status_code == 503
    assert "send the email just now" in known.content.decode()
    assert page_of(known)[:2] == page_of(stranger)[:2]  # the text differs by the form's fresh timestamp only
    assert "send the email just now" in stranger.content.decode()
    assert not SignInLink.objects.exists()


# -- the link --------------------------------------------------------------------------------------------------------


def test_opening_the_link_only_shows_a_button_so_mail_scanners_spend_nothing(tenant: Tenant) -> None:
    token = links.create(tenant.referrer)
    scanner = Client()
    for _ in range(2):
        page = open_link(scanner, tenant.campaign, token)
        assert page.status_code == 200
        assert "Sign in to your referral page" in page.content.decode()

    assert not is_signed_in(scanner, tenant)
    assert SignInLink.objects.get().used_at is None
    assert signed_in(tenant.referrer)  # the person's click still works


def test_the_links_url_only_redirects_to_one_without_the_token(tenant: Tenant) -> None:
    token = links.create(tenant.referrer)

    response = Client().get(reverse("portal_link", args=[tenant.campaign.slug, token]))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal_sign_in", args=[tenant.campaign.slug])
    assert response["Referrer-Policy"] == "no-referrer"
    for value in ("not-a-real-token", "x" * 500):  # answered at once (200: no "Not Found" log line holds the path)
        response = Client().get(reverse("portal_link", args=[tenant.campaign.slug, value]))
        assert response.status_code == 200
        assert "This sign-in link doesn't work" in response.content.decode()
        assert response["Referrer-Policy"] == "no-referrer"


def session_rows() -> list[dict[str, Any]]:
    return [row.get_decoded() for row in Session.objects.all()]


def session_keys() -> set[str]:
    return set(Session.objects.values_list("session_key", flat=True))  # the tenant fixture's owner has one


def test_no_session_row_in_the_database_holds_the_token_of_an_opened_link(tenant: Tenant) -> None:
    token = links.create(tenant.referrer)
    client = Client()

    assert "Sign in to your referral page" in open_link(client, tenant.campaign, token).content.decode()

    rows = Session.objects.all()
    assert rows.exists()
    for row in rows:
        assert token not in row.session_data
        assert token not in str(row.get_decoded())
    assert client.post(reverse("portal_sign_in", args=[tenant.campaign.slug])).status_code == 302
    assert all(token not in str(decoded) for decoded in session_rows())


def test_an_unknown_expired_or_used_link_writes_no_session_row(tenant: Tenant) -> None:
    used = links.create(tenant.referrer)
    assert sign_in_with(Client(), tenant.campaign, used).status_code == 302
    before = session_keys()
    expired = links.create(tenant.referrer, now=timezone.now() - timedelta(minutes=31))

    for value in ("not-a-real-token", "x" * 500, expired, used):
        response = Client().get(reverse("portal_link", args=[tenant.campaign.slug, value]))
        assert response.status_code == 200
    assert session_keys() == before


def test_a_link_under_an_unknown_campaign_is_not_found_and_writes_no_session_row(tenant: Tenant) -> None:
    token = links.create(tenant.referrer)
    before = session_keys()

    client = Client()
    response = client.get(reverse("portal_link", args=["no-such-campaign", token]))

    assert response.status_code == 302  # to the token-free URL, so that Django's "Not Found" line holds no token
    assert client.get(response["Location"]).status_code == 404
    assert session_keys() == before


def test_only_the_tokens_hash_is_stored(tenant: Tenant) -> None:
    token = links.create(tenant.referrer)

    row = SignInLink.objects.values().get()
    assert token not in str(row)
    assert row["token_hash"] == links.token_hash(token)
    assert row["expires_at"] - row["created_at"] == timedelta(minutes=30)


def test_a_used_link_says_so_and_offers_a_new_one(tenant: Tenant) -> None:
    token = links.create(tenant.referrer)
    signed_in_browser = Client()
    assert sign_in_with(signed_in_browser, tenant.campaign, token).status_code == 302

    again = Client()
    response = open_link(again, tenant.campaign, token)

    assert response.status_code == 200  # answered at once, the token's URL
    assert again.post(reverse("portal_sign_in", args=[tenant.campaign.slug])).status_code == 404
    page = response.content.decode()
    assert "This sign-in link was already used" in page
    assert "Send me a new link" in page and f'href="{page_url(tenant)}"' in page
    assert not is_signed_in(again, tenant)
    # The browser that used it is told it is signed in, and offered its page.
    assert "Open your referral page" in open_link(signed_in_browser, tenant.campaign, token).content.decode()


def test_two_clicks_at_once_sign_in_once(tenant: Tenant) -> None:
    token = links.create(tenant.referrer)
    first, second = Client(), Client()
    open_link(first, tenant.campaign, token)
    open_link(second, tenant.campaign, token)  # both pages show the button

    answers = [client.post(reverse("portal_sign_in", args=[tenant.campaign.slug])) for client in (first, second)]

    assert [answer.status_code for answer in answers] == [302, 410]
    assert [is_signed_in(first, tenant), is_signed_in(second, tenant)] == [True, False]


def test_an_expired_link_is_refused(tenant: Tenant) -> None:
    token = links.create(tenant.referrer, now=timezone.now() - timedelta(minutes=31))
    client = Client()

    shown = open_link(client, tenant.campaign, token)
    posted = client.post(reverse("portal_sign_in", args=[tenant.campaign.slug]))

    assert shown.status_code == 200  # answered at once, at the token's URL
    assert "This sign-in link has expired" in shown.content.decode()
    assert "Sign-in links work for 30 minutes." in shown.content.decode()
    assert posted.status_code == 404  # nothing was put in the session
    assert not is_signed_in(client, tenant)
    assert SignInLink.objects.get().used_at is None


def test_a_link_still_works_just_before_it_expires(tenant: Tenant) -> None:
    token = links.create(tenant.referrer, now=timezone.now() - timedelta(minutes=29))

    assert sign_in_with(Client(), tenant.campaign, token).status_code == 302


def test_another_campaigns_link_is_refused(tenant: Tenant, other_tenant: Tenant) -> None:
    # The same person is a referrer of both businesses.
    twin = Referrer.objects.create(campaign=other_tenant.campaign, first_name="Maria", email=tenant.referrer.email)
    token = links.create(twin)
    client = Client()

    shown = open_link(client, tenant.campaign, token, slug=tenant.campaign.slug)
    posted = client.post(reverse("portal_sign_in", args=[tenant.campaign.slug]))

    assert [shown.status_code, posted.status_code] == [200, 404]
    for response in (shown, posted):
        assert "This sign-in link doesn't work" in response.content.decode()
    assert not is_signed_in(client, tenant)
    # In its own campaign it still works, and opens that campaign's page only.
    assert sign_in_with(client, other_tenant.campaign, token).status_code == 302
    assert is_signed_in(client, other_tenant) and not is_signed_in(client, tenant)


def test_an_altered_or_unknown_link_does_not_work(tenant: Tenant) -> None:
    token = links.create(tenant.referrer)
    for value in (token[:-1] + ("A" if token[-1] != "A" else "B"), "nothing"):
        client = Client()
        response = sign_in_with(client, tenant.campaign, value)
        assert response.status_code == 404
        assert not is_signed_in(client, tenant)


def test_a_link_stops_working_when_the_owner_corrects_the_referrers_email(tenant: Tenant) -> None:
    token = links.create(tenant.referrer)
    Referrer.objects.filter(pk=tenant.referrer.pk).update(email="maria.corrected@example.com")

    response = sign_in_with(Client(), tenant.campaign, token)

    assert response.status_code == 404


def test_the_sign_in_post_needs_the_csrf_token(tenant: Tenant) -> None:
    token = links.create(tenant.referrer)
    client = Client(enforce_csrf_checks=True)
    open_link(client, tenant.campaign, token)

    for name in ("portal", "portal_sign_in", "portal_sign_out"):
        assert client.post(reverse(name, args=[tenant.campaign.slug])).status_code == 403
    assert SignInLink.objects.get().used_at is None


# -- the session -----------------------------------------------------------------------------------------------------


def test_signing_in_rotates_the_session_key(tenant: Tenant) -> None:
    client = Client()
    open_link(client, tenant.campaign, links.create(tenant.referrer))
    planted = client.session.session_key

    client.post(reverse("portal_sign_in", args=[tenant.campaign.slug]))

    assert client.session.session_key != planted
    assert is_signed_in(client, tenant)


def test_signing_in_is_no_user_login_and_keeps_an_owners_own(tenant: Tenant) -> None:
    anonymous = signed_in(tenant.referrer)
    assert "_auth_user_id" not in anonymous.session
    assert anonymous.get(reverse("campaign_list")).status_code == 302  # to the login page

    owner = signed_in(tenant.referrer, tenant.client)  # the owner tries out their own program
    assert owner.get(reverse("campaign_list")).status_code == 200
    assert owner.session["_auth_user_id"] == str(tenant.user.pk)


def test_the_session_opens_only_that_campaigns_page(tenant: Tenant, other_tenant: Tenant) -> None:
    client = signed_in(tenant.referrer)

    other = client.get(reverse("portal", args=[other_tenant.campaign.slug])).content.decode()

    assert "Email me a sign-in link" in other
    assert tenant.referrer.code not in other


def test_signing_out_ends_it(tenant: Tenant) -> None:
    client = signed_in(tenant.referrer)
    before = client.session.session_key

    response = client.post(reverse("portal_sign_out", args=[tenant.campaign.slug]), follow=True)

    assert "You&#x27;re signed out." in response.content.decode()
    assert "Email me a sign-in link" in response.content.decode()
    assert client.session.session_key != before


def test_a_sign_in_lasts_14_days(tenant: Tenant) -> None:
    client = signed_in(tenant.referrer)
    stored = client.session
    key = f"_portal_referrer:{tenant.campaign.pk}"
    entry = stored[key]
    entry["at"] -= int(session.SIGNED_IN_FOR.total_seconds()) - 60
    stored[key] = entry
    stored.save()
    assert is_signed_in(client, tenant)

    entry["at"] -= 120
    stored[key] = entry
    stored.save()
    assert not is_signed_in(client, tenant)


def test_a_sign_in_ends_when_the_referrers_email_changes(tenant: Tenant) -> None:
    client = signed_in(tenant.referrer)

    Referrer.objects.filter(pk=tenant.referrer.pk).update(email="someone.else@example.com")

    assert not is_signed_in(client, tenant)


# -- logs ------------------------------------------------------------------------------------------------------------


def test_no_token_reaches_a_log_line(tenant: Tenant, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ask_for_link(tenant.campaign, tenant.referrer.email)
    token = emailed_token(tenant.referrer.email)
    expired = links.create(tenant.referrer, now=timezone.now() - timedelta(hours=1))

    sign_in_with(Client(), tenant.campaign, token)  # signs in
    sign_in_with(Client(), tenant.campaign, token)  # used: 410
    sign_in_with(Client(), tenant.campaign, expired)  # expired: 410
    sign_in_with(Client(), tenant.campaign, token, slug="no-such-campaign")  # 404

    printed = "\n".join(record.getMessage() for record in caplog.records)
    assert "Not Found" in printed or "Gone" in printed  # Django did log the refusals...
    assert token not in printed and expired not in printed  # ...by URLs that hold no token
    assert f"referrer {tenant.referrer.pk}" in printed
