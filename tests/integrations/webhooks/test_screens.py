"""The Webhooks screens (Campaign Settings → Integrations and API → API → Webhooks) through Django's test client.

Endpoints point at a real receiver on 127.0.0.1 (the folder's conftest allows loopback and http, and refuses any
other connection); where a test needs an event actually sent, a worker runs in this process.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.db.models import Model
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from referloop.accounts.models import Membership, Role, User
from referloop.integrations.models import Attempt, AttemptOutcome, Delivery, DeliveryState
from referloop.integrations.webhooks import service
from referloop.integrations.webhooks.events import EVENT_TYPES, LEAD_CREATED, REFERRER_JOINED, TEST_EVENT
from referloop.integrations.webhooks.models import WebhookEndpoint
from referloop.integrations.webhooks.outbox import DISABLED_PREFIX
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead, no_retry_wait
from tests.integrations.webhooks.helpers import all_finished, run_until, subscribe
from tests.integrations.webhooks.receiver import Reply, receiving

URL = "http://127.0.0.1:9/hooks"  # nothing listens there: these tests only look at the screens
SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{40,}")


def settings_page(tenant: Tenant) -> str:
    return text(tenant.client.get(reverse("campaign_settings", args=[tenant.campaign.pk, "integrations"])))


def text(response: HttpResponse, status: int = 200) -> str:
    assert response.status_code == status, (response.status_code, response.content.decode()[:3000])
    return response.content.decode()


def endpoint_page(client: Client, endpoint: WebhookEndpoint, **params: Any) -> str:
    return text(client.get(reverse("webhook_endpoint", args=[endpoint.pk]), params))


def add(client: Client, **data: Any) -> HttpResponse:
    form = {"url": URL, "description": "CRM sync", "events": [LEAD_CREATED]}
    form.update(data)
    return client.post(reverse("webhook_add"), form)


def secrets_in(page: str) -> list[str]:
    return SECRET.findall(page)


def refreshed(row: Model) -> Any:
    row.refresh_from_db()
    return row


# -- the panel and the list ---------------------------------------------------------------------------------------


def test_the_integrations_tab_lists_the_accounts_endpoints_with_their_state_and_last_delivery(tenant: Tenant) -> None:
    quiet = subscribe(tenant, URL, [LEAD_CREATED], description="Warehouse").endpoint
    off = subscribe(tenant, "http://127.0.0.1:9/off", [REFERRER_JOINED]).endpoint
    service.disable_endpoint(tenant.account, off.pk, "It answered 410 Gone.")
    failing = subscribe(tenant, "http://127.0.0.1:9/failing").endpoint
    WebhookEndpoint.objects.filter(pk=failing.pk).update(failing_since=timezone.now() - timedelta(hours=3))
    delivered = service.send_test_event(tenant.account, quiet.pk)
    Delivery.objects.filter(pk=delivered.pk).update(state=DeliveryState.DELIVERED)

    page = settings_page(tenant)

    assert 'id="webhooks"' in page and "Add endpoint" in page
    assert "Endpoints belong to the Comfort Pro account, not to this campaign" in page
    assert URL in page and "Warehouse" in page and "<code>lead.created</code>" in page
    assert "Disabled" in page and "It answered 410 Gone." in page
    assert "Failing since" in page
    assert reverse("webhook_delivery", args=[quiet.pk, delivered.pk]) in page and ">Delivered<" in page
    assert page.count("None yet") == 2  # the two endpoints that have had no delivery


def test_with_no_endpoint_the_panel_says_what_webhooks_are_for(tenant: Tenant) -> None:
    page = settings_page(tenant)

    assert "No endpoints yet." in page
    assert reverse("webhook_add") + f"?campaign={tenant.campaign.pk}" in page


def test_the_account_page_lists_the_same_endpoints_and_never_another_accounts(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    subscribe(tenant, URL)
    subscribe(other_tenant, "http://127.0.0.1:9/rival-secret-path")

    page = text(tenant.client.get(reverse("webhook_list")))

    assert URL in page
    assert "rival-secret-path" not in page
    assert "rival-secret-path" not in settings_page(tenant)


# -- adding, and the secret shown once ----------------------------------------------------------------------------


def test_adding_an_endpoint_saves_it_and_shows_its_secret_once(tenant: Tenant) -> None:
    response = add(tenant.client, url=URL, description="CRM sync", events=[LEAD_CREATED, REFERRER_JOINED], ordered="on")

    page = text(response)
    endpoint = WebhookEndpoint.objects.get(account=tenant.account)
    assert (endpoint.url, endpoint.description, endpoint.ordered) == (URL, "CRM sync", True)
    assert endpoint.events == [REFERRER_JOINED, LEAD_CREATED]  # in the registry's order
    assert secrets_in(page) == [endpoint.secret]
    assert "Copy it now" in page or "Copy its signing secret now" in page
    assert 'data-copy="signing-secret"' in page
    assert "Standard Webhooks" in page and "standardwebhooks" in page
    assert "no-store" in response["Cache-Control"]


def test_after_the_reveal_the_secret_is_never_shown_again_only_masked(tenant: Tenant) -> None:
    text(add(tenant.client))
    endpoint = WebhookEndpoint.objects.get()
    secret = endpoint.secret

    pages = {
        "endpoint": endpoint_page(tenant.client, endpoint),
        "list": text(tenant.client.get(reverse("webhook_list"))),
        "settings": settings_page(tenant),
        "edit": text(tenant.client.get(reverse("webhook_edit", args=[endpoint.pk]))),
    }

    for name, page in pages.items():
        assert secret not in page, name
        assert secret[6:] not in page, name  # not even without its prefix
        assert not secrets_in(page), name
    assert "whsec_••••••••" + secret[-4:] in pages["endpoint"]


def test_neither_the_secret_nor_the_form_is_logged(tenant: Tenant, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    text(add(tenant.client))
    endpoint = WebhookEndpoint.objects.get()
    rotated = text(tenant.client.post(reverse("webhook_rotate", args=[endpoint.pk])))

    secrets = [endpoint.secret, *secrets_in(rotated)]
    assert len(secrets) == 2
    for secret in secrets:
        assert secret not in caplog.text


def test_a_plain_http_url_is_refused_in_place_and_nothing_is_created(tenant: Tenant, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_HTTP = False

    page = text(add(tenant.client, url="http://example.com/hooks"), status=400)

    assert "The URL must use https://" in page
    assert 'aria-invalid="true"' in page and "Nothing was saved" in page
    assert 'value="http://example.com/hooks"' in page  # what was typed stays, to be fixed
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://10.0.0.1/hooks", "a private network address (10.0.0.0/8)"),
        ("https://169.254.169.254/latest/meta-data", "the cloud metadata address"),
        ("https://localhost/hooks", "localhost (127.0.0.1): it is a loopback address"),
        ("https://[::ffff:192.168.1.5]/hooks", "a private network address (192.168.0.0/16)"),
        ("https:///nohost", "must start with https:// and name a host"),
        ("https://user:pw@example.com/hooks", "must not contain a user name or password"),
        ("", "Enter the URL that should receive the events."),
    ],
    ids=["private", "metadata", "name-resolving-to-loopback", "mapped-private", "no-host", "credentials", "empty"],
)
def test_a_url_that_may_not_receive_events_is_refused_with_the_reason_in_place(
    tenant: Tenant, settings: Any, url: str, words: str
) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = False

    page = text(add(tenant.client, url=url), status=400)

    assert words in page.replace("&#x27;", "'")
    assert 'id="id_url_error"' in page
    assert not WebhookEndpoint.objects.exists()


def test_choosing_no_event_is_refused_and_a_bad_url_is_named_at_the_same_time(tenant: Tenant, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_HTTP = False

    page = text(add(tenant.client, url="http://example.com/hooks", events=[]), status=400)

    assert "Choose at least one event to send." in page
    assert "The URL must use https://" in page
    assert not WebhookEndpoint.objects.exists()


def test_an_unknown_event_type_is_refused_not_a_500(tenant: Tenant) -> None:
    page = text(add(tenant.client, events=["lead.deleted"]), status=400)

    assert "lead.deleted" in page
    assert not WebhookEndpoint.objects.exists()


def test_the_form_offers_every_event_type_with_its_description_and_explains_ordering(tenant: Tenant) -> None:
    page = text(tenant.client.get(reverse("webhook_add")))

    for name, description in EVENT_TYPES.items():
        assert f'value="{name}"' in page
        assert description.split(";")[0].replace("'", "&#x27;") in page
    assert "Deliver in order" in page and "One event at a time, oldest first" in page


# -- editing, deleting, rotating, enabling ------------------------------------------------------------------------


def test_editing_changes_the_url_events_description_and_order(tenant: Tenant) -> None:
    endpoint = subscribe(tenant, URL, [LEAD_CREATED]).endpoint
    secret = endpoint.secret

    response = tenant.client.post(
        reverse("webhook_edit", args=[endpoint.pk]),
        {"url": "http://127.0.0.1:9/v2", "description": "v2", "events": [REFERRER_JOINED], "ordered": "on"},
    )

    assert response.status_code == 302 and response["Location"] == reverse("webhook_endpoint", args=[endpoint.pk])
    endpoint = refreshed(endpoint)
    assert (endpoint.url, endpoint.description, endpoint.events, endpoint.ordered) == (
        "http://127.0.0.1:9/v2",
        "v2",
        [REFERRER_JOINED],
        True,
    )
    assert endpoint.secret == secret  # editing never changes the secret
    assert "Endpoint saved." in endpoint_page(tenant.client, endpoint)


def test_the_edit_form_starts_from_the_endpoints_values(tenant: Tenant) -> None:
    endpoint = subscribe(tenant, URL, [REFERRER_JOINED], description="Zapier", ordered=True).endpoint

    page = text(tenant.client.get(reverse("webhook_edit", args=[endpoint.pk])))

    assert f'value="{URL}"' in page and 'value="Zapier"' in page
    assert re.search(r'value="referrer\.joined"[^>]*checked', page)
    assert not re.search(r'value="lead\.created"[^>]*checked', page)
    assert re.search(r'name="ordered"[^>]*checked', page)


def test_editing_to_a_refused_url_keeps_the_old_one(tenant: Tenant) -> None:
    endpoint = subscribe(tenant, URL, [LEAD_CREATED]).endpoint

    page = text(
        tenant.client.post(
            reverse("webhook_edit", args=[endpoint.pk]), {"url": "https://10.1.2.3/x", "events": [LEAD_CREATED]}
        ),
        status=400,
    )

    assert "a private network address (10.0.0.0/8)" in page
    assert refreshed(endpoint).url == URL


def test_deleting_an_endpoint_removes_it_with_its_log_and_goes_back_to_the_campaign(tenant: Tenant) -> None:
    endpoint = subscribe(tenant, URL).endpoint
    service.send_test_event(tenant.account, endpoint.pk)
    page = endpoint_page(tenant.client, endpoint)
    assert "Delete endpoint…" in page and "its delivery log is deleted with it" in page

    response = tenant.client.post(reverse("webhook_delete", args=[endpoint.pk]) + f"?campaign={tenant.campaign.pk}")

    assert response.status_code == 302
    assert response["Location"] == reverse("campaign_settings", args=[tenant.campaign.pk, "integrations"]) + "#webhooks"
    assert not WebhookEndpoint.objects.exists()
    assert not Delivery.objects.filter(connector="webhook").exists()
    assert f"Endpoint {URL} deleted" in settings_page(tenant)


def test_deleting_while_an_event_is_being_sent_disables_it_and_says_to_try_again(tenant: Tenant) -> None:
    endpoint = subscribe(tenant, URL).endpoint
    delivery = service.send_test_event(tenant.account, endpoint.pk)
    Delivery.objects.filter(pk=delivery.pk).update(lease_expires_at=timezone.now() + timedelta(minutes=2))

    response = tenant.client.post(reverse("webhook_delete", args=[endpoint.pk]), follow=True)

    assert "being sent to this endpoint right now" in text(response)
    assert refreshed(endpoint).enabled is False


def test_rotating_shows_the_new_secret_once_and_says_the_old_one_works_for_24_hours(tenant: Tenant) -> None:
    endpoint = subscribe(tenant, URL).endpoint
    old = endpoint.secret
    assert "Rotate secret…" in endpoint_page(tenant.client, endpoint)

    response = tenant.client.post(reverse("webhook_rotate", args=[endpoint.pk]))

    page = text(response)
    endpoint = refreshed(endpoint)
    assert endpoint.secret != old
    assert secrets_in(page) == [endpoint.secret]
    assert old not in page
    assert "The old secret keeps working for 24 hours" in page
    assert "no-store" in response["Cache-Control"]
    assert endpoint.signing_secrets() == (endpoint.secret, old)
    later = endpoint_page(tenant.client, endpoint)
    assert not secrets_in(later) and "The previous secret also signs until" in later


def test_disabling_holds_new_events_and_enabling_sends_them(tenant: Tenant) -> None:
    endpoint = subscribe(tenant, URL, [LEAD_CREATED]).endpoint

    response = tenant.client.post(reverse("webhook_disable", args=[endpoint.pk]), follow=True)

    assert "Endpoint disabled." in text(response)
    assert refreshed(endpoint).enabled is False
    add_lead(tenant.campaign, tenant.referrer)
    held = Delivery.objects.get(endpoint=endpoint)
    assert held.state == DeliveryState.HELD and held.reason.startswith(DISABLED_PREFIX)
    page = endpoint_page(tenant.client, endpoint)
    assert "Enable and send the 1 held event" in page and "Enable without them" in page
    assert "It was turned off on the Webhooks screen." in page

    response = tenant.client.post(reverse("webhook_enable", args=[endpoint.pk]), {"held": "send"}, follow=True)

    assert "Endpoint enabled. 1 held event is being sent now." in text(response)
    assert refreshed(endpoint).enabled is True
    assert refreshed(held).state == DeliveryState.PENDING


def test_enabling_without_the_held_events_marks_them_skipped(tenant: Tenant) -> None:
    endpoint = subscribe(tenant, URL, [LEAD_CREATED]).endpoint
    service.disable_endpoint(tenant.account, endpoint.pk)
    add_lead(tenant.campaign, tenant.referrer)

    response = tenant.client.post(reverse("webhook_enable", args=[endpoint.pk]), {"held": "skip"}, follow=True)

    assert "were marked skipped" in text(response)
    assert Delivery.objects.get(endpoint=endpoint).state == DeliveryState.SKIPPED


def test_a_failing_endpoint_says_since_when_and_what_happens_after_five_days(tenant: Tenant) -> None:
    endpoint = subscribe(tenant, URL).endpoint
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=1))

    page = endpoint_page(tenant.client, endpoint)

    assert "Failing since" in page and "After 5 days of failures the endpoint is disabled" in page


def test_an_unreadable_secret_says_to_rotate_it_instead_of_failing(tenant: Tenant) -> None:
    endpoint = subscribe(tenant, URL).endpoint
    another_key = Fernet(Fernet.generate_key())  # as if the deployment's key changed since
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret_encrypted=another_key.encrypt(b"whsec_x").decode())

    page = endpoint_page(tenant.client, endpoint)

    assert "Can't be read with this deployment's key: rotate it." in page
    assert text(tenant.client.post(reverse("webhook_rotate", args=[endpoint.pk])))


# -- the log: test events, deliveries, resend ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_test_event_is_queued_then_sent_by_the_worker_and_shown_delivered_in_the_log(tenant: Tenant) -> None:
    with receiving() as receiver:
        endpoint = subscribe(tenant, receiver.url, [LEAD_CREATED]).endpoint

        response = tenant.client.post(reverse("webhook_test", args=[endpoint.pk]), follow=True)

        page = text(response)
        delivery = Delivery.objects.get(endpoint=endpoint)
        assert delivery.event is not None and delivery.event.type == TEST_EVENT
        assert f"Test event {delivery.event.event_id} queued" in page
        assert ">Pending<" in page and 'hx-trigger="every 2s"' in page  # the log refreshes while it waits
        run_until(all_finished(endpoint))

    [received] = receiver.received
    assert received.webhook_id == delivery.event.event_id and received.verifies_with(endpoint.secret)
    page = endpoint_page(tenant.client, endpoint)
    row = re.search(r"<tr>\s*<td data-label=\"Event\">.*?</tr>", page, re.S)
    assert row is not None
    assert TEST_EVENT in row[0] and delivery.event.event_id in row[0]
    assert ">Delivered<" in row[0] and ">200<" in row[0]
    assert 'hx-trigger="every 2s"' not in page  # nothing left to wait for


@pytest.mark.django_db(transaction=True)
def test_the_delivery_page_shows_every_attempt_with_the_signed_request_and_the_response(tenant: Tenant) -> None:
    with receiving([Reply(503, "try later, the queue is full")], default=Reply(200, '{"ok": true}')) as receiver:
        endpoint = subscribe(tenant, receiver.url, [LEAD_CREATED]).endpoint
        add_lead(tenant.campaign, tenant.referrer)
        run_until(all_finished(endpoint), retry=no_retry_wait())
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.event is not None
    first, second = receiver.received

    page = text(tenant.client.get(reverse("webhook_delivery", args=[endpoint.pk, delivery.pk])))

    assert "Attempt 1 · Temporary failure · HTTP 503" in page and "Attempt 2 · Delivered · HTTP 200" in page
    assert "try later, the queue is full" in page and "{&quot;ok&quot;: true}" in page
    for received in (first, second):
        assert received.headers["webhook-signature"] in page
        assert received.headers["webhook-timestamp"] in page
    assert page.count(f'<td class="mono">{delivery.event.event_id}</td>') == 2  # webhook-id, on both attempts
    assert f"POST {receiver.url}" in page
    assert "&quot;type&quot;: &quot;lead.created&quot;" in page  # the body as sent
    assert "503 Service Unavailable" in page  # the sentence
    assert endpoint.secret not in page


@pytest.mark.django_db(transaction=True)
def test_resend_sends_a_delivered_event_again_with_the_same_id(tenant: Tenant) -> None:
    with receiving() as receiver:
        endpoint = subscribe(tenant, receiver.url, [LEAD_CREATED]).endpoint
        add_lead(tenant.campaign, tenant.referrer)
        run_until(all_finished(endpoint))
        delivery = Delivery.objects.get(endpoint=endpoint)

        response = tenant.client.post(reverse("webhook_resend", args=[endpoint.pk, delivery.pk]), follow=True)

        assert "Resending" in text(response) and "with the same webhook-id" in text(response)
        assert refreshed(delivery).state == DeliveryState.PENDING
        run_until(all_finished(endpoint))

    one, two = receiver.received
    assert one.webhook_id == two.webhook_id
    assert refreshed(delivery).state == DeliveryState.DELIVERED and delivery.attempt_count == 2


def test_a_pending_delivery_is_not_resent_and_the_page_says_why(tenant: Tenant) -> None:
    endpoint = subscribe(tenant, URL).endpoint
    delivery = service.send_test_event(tenant.account, endpoint.pk)

    response = tenant.client.post(
        reverse("webhook_resend", args=[endpoint.pk, delivery.pk]), {"back": "log"}, follow=True
    )

    assert "This delivery is pending and can&#x27;t be resent now" in text(response)
    assert response.redirect_chain[-1][0] == reverse("webhook_endpoint", args=[endpoint.pk])


def test_the_log_is_newest_first_paginated_and_filtered_by_state(tenant: Tenant) -> None:
    endpoint = subscribe(tenant, URL).endpoint
    deliveries = [service.send_test_event(tenant.account, endpoint.pk) for _ in range(30)]
    failed = deliveries[3]
    Delivery.objects.filter(pk=failed.pk).update(state=DeliveryState.FAILED, attempt_count=6)
    Attempt.objects.create(
        delivery=failed, number=6, started_at=timezone.now(), outcome=AttemptOutcome.PERMANENT, response_status=404
    )
    ids = [d.event.event_id for d in deliveries if d.event is not None]

    first = endpoint_page(tenant.client, endpoint)
    second = endpoint_page(tenant.client, endpoint, page=2)
    only_failed = endpoint_page(tenant.client, endpoint, state="failed")

    shown = re.findall(r'<span class="mono small">(msg_[^<]+)</span>', first)
    assert shown == ids[::-1][:25]
    assert re.findall(r'<span class="mono small">(msg_[^<]+)</span>', second) == ids[::-1][25:]
    assert "Page 1 of 2" in first and "Older" in first and "Newer" in second
    assert re.findall(r'<span class="mono small">(msg_[^<]+)</span>', only_failed) == [ids[3]]
    assert ">404<" in only_failed
    assert re.search(r'class="chip active"[^>]*>Failed <span class="count">1</span>', only_failed)
    assert 'All <span class="count">30</span>' in first


def test_the_log_refreshes_itself_as_a_fragment_while_events_wait(tenant: Tenant) -> None:
    endpoint = subscribe(tenant, URL).endpoint
    service.send_test_event(tenant.account, endpoint.pk)

    fragment = text(
        tenant.client.get(reverse("webhook_endpoint", args=[endpoint.pk]), {"partial": "log"}, HTTP_HX_REQUEST="true")
    )

    assert fragment.startswith('<div id="delivery-log"') and "<html" not in fragment
    assert 'hx-trigger="every 2s"' in fragment


def test_a_bad_state_filter_or_page_shows_the_whole_log_not_an_error(tenant: Tenant) -> None:
    endpoint = subscribe(tenant, URL).endpoint
    service.send_test_event(tenant.account, endpoint.pk)

    page = endpoint_page(tenant.client, endpoint, state="nonsense", page="x")

    assert TEST_EVENT in page


# -- the campaign the person came from ----------------------------------------------------------------------------


def test_the_breadcrumb_leads_back_to_the_campaign_only_if_it_is_the_accounts(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    endpoint = subscribe(tenant, URL).endpoint

    own = endpoint_page(tenant.client, endpoint, campaign=tenant.campaign.pk)
    foreign = endpoint_page(tenant.client, endpoint, campaign=other_tenant.campaign.pk)

    assert reverse("campaign_settings", args=[tenant.campaign.pk, "integrations"]) + "#webhooks" in own
    assert tenant.campaign.name in own
    assert other_tenant.campaign.name not in foreign
    assert f"campaign={other_tenant.campaign.pk}" not in foreign


@pytest.mark.parametrize("value", ["²", "9" * 30, "-1", "abc", ""])
def test_a_nonsense_campaign_in_the_address_is_ignored(tenant: Tenant, value: str) -> None:
    endpoint = subscribe(tenant, URL).endpoint

    page = endpoint_page(tenant.client, endpoint, campaign=value)

    assert reverse("webhook_list") in page  # the breadcrumb leads to the account's Webhooks page instead


# -- account isolation, roles, CSRF -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Objects:
    endpoint: WebhookEndpoint
    delivery: Delivery


def objects_of(tenant: Tenant, url: str) -> Objects:
    endpoint = subscribe(tenant, url).endpoint
    delivery = service.send_test_event(tenant.account, endpoint.pk)
    Delivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.FAILED)
    return Objects(endpoint, delivery)


Path = Callable[[Objects, Objects], str]  # (the user's own objects, the other account's) -> the path to try


def endpoint_url(name: str) -> Path:
    return lambda own, foreign: reverse(name, args=[foreign.endpoint.pk])


def delivery_url(name: str, under: str) -> Path:
    """The other account's delivery, under its own endpoint or under the user's own endpoint."""

    def path(own: Objects, foreign: Objects) -> str:
        endpoint = foreign.endpoint if under == "foreign" else own.endpoint
        return reverse(name, args=[endpoint.pk, foreign.delivery.pk])

    return path


EDIT_DATA = {"url": "http://127.0.0.1:9/hijacked", "description": "hijacked", "events": [LEAD_CREATED]}
GET_PATHS: dict[str, Path] = {
    "endpoint": endpoint_url("webhook_endpoint"),
    "edit": endpoint_url("webhook_edit"),
    "delivery": delivery_url("webhook_delivery", "foreign"),
    "delivery-under-own-endpoint": delivery_url("webhook_delivery", "own"),
}
POST_PATHS: dict[str, Path] = {
    "edit": endpoint_url("webhook_edit"),
    "delete": endpoint_url("webhook_delete"),
    "rotate": endpoint_url("webhook_rotate"),
    "disable": endpoint_url("webhook_disable"),
    "enable": endpoint_url("webhook_enable"),
    "test": endpoint_url("webhook_test"),
    "resend": delivery_url("webhook_resend", "foreign"),
    "resend-under-own-endpoint": delivery_url("webhook_resend", "own"),
}


def snapshot(objects: Objects) -> tuple[Any, ...]:
    endpoint = WebhookEndpoint.objects.get(pk=objects.endpoint.pk)
    delivery = Delivery.objects.get(pk=objects.delivery.pk)
    return (
        endpoint.url,
        endpoint.description,
        endpoint.events,
        endpoint.enabled,
        endpoint.secret_encrypted,
        endpoint.previous_secret_encrypted,
        delivery.state,
        Delivery.objects.filter(endpoint=endpoint).count(),
    )


@pytest.fixture
def own(tenant: Tenant) -> Objects:
    return objects_of(tenant, URL)


@pytest.fixture
def foreign(other_tenant: Tenant) -> Objects:
    return objects_of(other_tenant, "http://127.0.0.1:9/rival")


@pytest.mark.parametrize("name", GET_PATHS)
def test_another_accounts_endpoint_or_delivery_is_404_on_every_page(
    tenant: Tenant, own: Objects, foreign: Objects, name: str
) -> None:
    assert tenant.client.get(GET_PATHS[name](own, foreign)).status_code == 404
    assert tenant.client.get(GET_PATHS[name](own, own)).status_code == 200  # the control: the path is right


@pytest.mark.parametrize("name", POST_PATHS)
def test_a_post_to_another_accounts_endpoint_or_delivery_is_404_and_changes_nothing(
    tenant: Tenant, own: Objects, foreign: Objects, name: str
) -> None:
    before = snapshot(foreign)

    response = tenant.client.post(POST_PATHS[name](own, foreign), EDIT_DATA)

    assert response.status_code == 404
    assert snapshot(foreign) == before
    assert not secrets_in(response.content.decode())


@pytest.mark.parametrize("name", POST_PATHS)
def test_the_same_post_works_on_the_accounts_own_endpoint(tenant: Tenant, own: Objects, name: str) -> None:
    """The control for the test above: its 404s come from the account check, not from a wrong path."""
    response = tenant.client.post(POST_PATHS[name](own, own), EDIT_DATA)

    # Rotating answers with the page that shows the new secret once; every other action redirects.
    assert response.status_code == (200 if name == "rotate" else 302), (name, response.status_code)


def test_a_missing_id_is_404_like_another_accounts(tenant: Tenant) -> None:
    assert tenant.client.get(reverse("webhook_endpoint", args=[987654321])).status_code == 404
    assert tenant.client.post(reverse("webhook_rotate", args=[987654321])).status_code == 404


@pytest.fixture
def member(tenant: Tenant) -> Client:
    user = User.objects.create_user(email="member@comfortpro.example", password="x" * 12)
    Membership.objects.create(user=user, account=tenant.account, role=Role.MEMBER)
    client = Client()
    client.force_login(user)
    return client


def test_a_member_can_look_at_endpoints_and_deliveries(tenant: Tenant, own: Objects, member: Client) -> None:
    pages = [
        text(member.get(reverse("webhook_list"))),
        text(member.get(reverse("campaign_settings", args=[tenant.campaign.pk, "integrations"]))),
        endpoint_page(member, own.endpoint),
        text(member.get(reverse("webhook_delivery", args=[own.endpoint.pk, own.delivery.pk]))),
    ]

    assert all(URL in page for page in pages)
    assert "only owners and admins of Comfort Pro can change webhook endpoints" in pages[2]
    for page in pages:
        assert "Add endpoint</a>" not in page and "Send test event" not in page and "Rotate secret" not in page
        assert ">Resend<" not in page and "Delete endpoint" not in page


@pytest.mark.parametrize("name", POST_PATHS)
def test_a_member_cannot_change_anything(tenant: Tenant, own: Objects, member: Client, name: str) -> None:
    before = snapshot(own)

    response = member.post(POST_PATHS[name](own, own), EDIT_DATA)

    assert response.status_code == 403
    assert snapshot(own) == before


def test_a_member_cannot_add_an_endpoint(tenant: Tenant, member: Client) -> None:
    assert member.get(reverse("webhook_add")).status_code == 403
    assert member.post(reverse("webhook_add"), {"url": URL, "events": [LEAD_CREATED]}).status_code == 403
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("name", ["add", *POST_PATHS])
def test_every_post_needs_the_csrf_token(tenant: Tenant, own: Objects, name: str) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenant.user)
    before = snapshot(own)
    path = reverse("webhook_add") if name == "add" else POST_PATHS[name](own, own)

    response = client.post(path, {"url": "http://127.0.0.1:9/new", "events": [LEAD_CREATED]})

    assert response.status_code == 403
    assert snapshot(own) == before
    assert WebhookEndpoint.objects.count() == 1


def test_every_form_on_the_pages_carries_the_csrf_token(tenant: Tenant, own: Objects) -> None:
    pages = [
        endpoint_page(tenant.client, own.endpoint),
        text(tenant.client.get(reverse("webhook_delivery", args=[own.endpoint.pk, own.delivery.pk]))),
        text(tenant.client.get(reverse("webhook_edit", args=[own.endpoint.pk]))),
        text(tenant.client.get(reverse("webhook_add"))),
    ]

    for page in pages:
        forms = re.findall(r'<form method="post".*?</form>', page, re.S)
        assert forms
        assert all("csrfmiddlewaretoken" in form for form in forms)


@pytest.mark.parametrize("name", ["delete", "rotate", "disable", "enable", "test"])
def test_a_change_is_never_made_by_a_get(tenant: Tenant, own: Objects, name: str) -> None:
    before = snapshot(own)

    assert tenant.client.get(POST_PATHS[name](own, own)).status_code == 405
    assert snapshot(own) == before


def test_signed_out_visitors_are_sent_to_log_in(own: Objects) -> None:
    response = Client().get(reverse("webhook_endpoint", args=[own.endpoint.pk]))

    assert response.status_code == 302 and "/login/" in response["Location"]
