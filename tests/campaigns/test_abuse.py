"""The public forms against bots: honeypot and fill time, rate limits per IP and per campaign, the client's IP
and user agent on every lead, and "Suspicious" leads on the lead screens (referloop/campaigns/abuse/)."""

from __future__ import annotations

import ipaddress
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from django.core.cache import cache, caches
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_ratelimit import core as ratelimit_core

from referloop.campaigns.abuse import suspicious
from referloop.campaigns.abuse.formguard import HONEYPOT_FIELD, TOKEN_FIELD, FormKind, issue_token
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import Campaign, Lead, LeadSource, Referrer
from referloop.settings import proxy_networks
from tests import redis_keys
from tests.conftest import Tenant, make_tenant
from tests.public_forms import as_person

pytestmark = pytest.mark.django_db

REDIS_URL = redis_keys.REDIS_URL
BOT = "198.51.100.7"


# --- helpers -----------------------------------------------------------------------------------------------------


def lead_url(referrer: Referrer) -> str:
    return reverse("referral_page", args=[referrer.code])


def join_url(campaign: Campaign) -> str:
    return reverse("referrer_join", args=[campaign.slug])


def post_lead(tenant: Tenant, n: int, ip: str = BOT, **extra: Any) -> Any:
    data = as_person(tenant.campaign, "lead", {"first_name": f"Friend{n}", "email": f"friend{n}@example.com"})
    return Client().post(lead_url(tenant.referrer), data, REMOTE_ADDR=ip, **extra)


def post_join(tenant: Tenant, n: int, ip: str = BOT) -> Any:
    data = as_person(tenant.campaign, "join", {"first_name": f"Ref{n}", "email": f"ref{n}@example.com"})
    return Client().post(join_url(tenant.campaign), data, REMOTE_ADDR=ip)


def new_leads(tenant: Tenant) -> int:
    return Lead.objects.filter(campaign=tenant.campaign).exclude(pk=tenant.lead.pk).count()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """django-ratelimit's clock, frozen mid-window (and moved by the test): counts never depend on wall time."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(ratelimit_core, "time", SimpleNamespace(time=lambda: now[0]))
    return now


# --- 1. honeypot and minimum fill time ---------------------------------------------------------------------------


def test_the_public_forms_carry_a_signed_timestamp_and_an_off_screen_honeypot(tenant: Tenant) -> None:
    for url in (lead_url(tenant.referrer), join_url(tenant.campaign)):
        page = Client().get(url).content.decode()
        assert re.search(rf'<input type="hidden" name="{TOKEN_FIELD}" value="[^"]+:[^"]+">', page), url
        honeypot = re.search(rf'<div class="hp-field" aria-hidden="true">.*?name="{HONEYPOT_FIELD}"[^>]*>', page)
        assert honeypot is not None and 'tabindex="-1"' in honeypot.group() and 'autocomplete="off"' in honeypot.group()


@pytest.mark.parametrize("kind", ["lead", "join"])
def test_a_form_sent_a_moment_after_it_was_served_is_refused_and_creates_nothing(
    tenant: Tenant, kind: str, settings: Any
) -> None:
    # A minimum no test run can outlast: the refusal can't depend on how fast this machine answers.
    settings.PUBLIC_FORM_MIN_FILL_SECONDS = 3600
    data = {"first_name": "Quick", "email": "quick@example.com"}
    url = lead_url(tenant.referrer) if kind == "lead" else join_url(tenant.campaign)
    served_half_a_second_ago = as_person(tenant.campaign, kind, data, seconds_ago=0.5)

    response = Client().post(url, served_half_a_second_ago)

    assert response.status_code == 400
    page = response.content.decode()
    assert "Please check your details and send the form again." in page
    assert 'value="quick@example.com"' in page  # what was typed is kept
    fresh = re.search(rf'name="{TOKEN_FIELD}" value="([^"]+)"', page)
    assert fresh is not None and fresh.group(1) != served_half_a_second_ago[TOKEN_FIELD]
    assert not Lead.objects.filter(email="quick@example.com").exists()
    assert not Referrer.objects.filter(email="quick@example.com").exists()


@pytest.mark.parametrize("kind", ["lead", "join"])
def test_a_form_with_the_honeypot_filled_is_refused_and_creates_nothing(tenant: Tenant, kind: str) -> None:
    data = {"first_name": "Bot", "email": "bot@example.com", HONEYPOT_FIELD: "https://spam.example"}
    url = lead_url(tenant.referrer) if kind == "lead" else join_url(tenant.campaign)

    response = Client().post(url, as_person(tenant.campaign, kind, data))

    assert response.status_code == 400
    assert "Please check your details and send the form again." in response.content.decode()
    assert not Lead.objects.filter(email="bot@example.com").exists()
    assert not Referrer.objects.filter(email="bot@example.com").exists()


def test_a_missing_forged_foreign_or_expired_token_is_refused(tenant: Tenant, other_tenant: Tenant) -> None:
    data = {"first_name": "Bot", "email": "bot@example.com"}
    good = issue_token(tenant.campaign, FormKind.LEAD, served_at=time.time() - 30)
    tokens = {
        "missing": "",
        "forged": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "other campaign": issue_token(other_tenant.campaign, FormKind.LEAD, served_at=time.time() - 30),
        "join page's": issue_token(tenant.campaign, FormKind.JOIN, served_at=time.time() - 30),
        "a day old": issue_token(tenant.campaign, FormKind.LEAD, served_at=time.time() - 24 * 3600),
    }
    for name, token in tokens.items():
        response = Client().post(lead_url(tenant.referrer), {**data, TOKEN_FIELD: token})
        assert response.status_code == 400, name
    expired = Client().post(lead_url(tenant.referrer), {**data, TOKEN_FIELD: tokens["a day old"]})
    assert "This page was open for a long time." in expired.content.decode()
    assert not Lead.objects.filter(email="bot@example.com").exists()


def test_a_token_works_for_one_post_only_and_the_refusal_hands_out_a_fresh_one(tenant: Tenant) -> None:
    token = issue_token(tenant.campaign, FormKind.LEAD, served_at=time.time() - 30)
    first = {"first_name": "Ann", "email": "ann@example.com", TOKEN_FIELD: token}
    replayed = {"first_name": "Bob", "email": "bob@example.com", TOKEN_FIELD: token}

    assert Client().post(lead_url(tenant.referrer), first).status_code == 200
    again = Client().post(lead_url(tenant.referrer), replayed)

    assert again.status_code == 400
    assert "This form was sent already." in again.content.decode()
    assert not Lead.objects.filter(email="bob@example.com").exists()
    fresh = re.search(rf'name="{TOKEN_FIELD}" value="([^"]+)"', again.content.decode())
    assert fresh is not None and fresh.group(1) != token
    later = issue_token(tenant.campaign, FormKind.LEAD, served_at=time.time() - 30)  # the page opened again
    assert Client().post(lead_url(tenant.referrer), {**replayed, TOKEN_FIELD: later}).status_code == 200


def test_a_post_refused_for_its_fill_time_leaves_its_token_unspent(tenant: Tenant, settings: Any) -> None:
    data = as_person(tenant.campaign, "lead", {"first_name": "Ann", "email": "ann@example.com"})
    settings.PUBLIC_FORM_MIN_FILL_SECONDS = 60
    assert Client().post(lead_url(tenant.referrer), data).status_code == 400
    settings.PUBLIC_FORM_MIN_FILL_SECONDS = 10
    assert Client().post(lead_url(tenant.referrer), data).status_code == 200


def test_a_person_who_takes_their_time_gets_the_thank_you_page(tenant: Tenant) -> None:
    response = post_lead(tenant, 1)
    assert response.status_code == 200
    assert "Thank you, Friend1!" in response.content.decode()
    assert Lead.objects.filter(email="friend1@example.com").exists()


def test_the_minimum_fill_time_is_a_setting(tenant: Tenant, settings: Any) -> None:
    settings.PUBLIC_FORM_MIN_FILL_SECONDS = 60
    assert post_lead(tenant, 1).status_code == 400  # served 30 s ago
    settings.PUBLIC_FORM_MIN_FILL_SECONDS = 10
    assert post_lead(tenant, 1).status_code == 200


# --- 2. rate limits ----------------------------------------------------------------------------------------------


def test_the_sixth_lead_from_one_ip_in_ten_minutes_gets_a_friendly_429(tenant: Tenant, clock: list[float]) -> None:
    for n in range(5):
        assert post_lead(tenant, n).status_code == 200

    refused = post_lead(tenant, 5)

    assert refused.status_code == 429
    assert "Please try again later" in refused.content.decode()
    assert refused.templates[0].name == "public/too_many_requests.html"
    assert 1 <= int(refused["Retry-After"]) <= 600
    assert new_leads(tenant) == 5
    assert post_lead(tenant, 6, ip="203.0.113.9").status_code == 200  # another address is not affected

    clock[0] += 600  # the next window
    assert post_lead(tenant, 7).status_code == 200
    assert new_leads(tenant) == 7


def test_the_join_page_is_limited_per_ip_too(tenant: Tenant, clock: list[float]) -> None:
    for n in range(5):
        assert post_join(tenant, n).status_code == 200
    assert post_join(tenant, 5).status_code == 429
    assert Referrer.objects.filter(campaign=tenant.campaign, email__startswith="ref").count() == 5


def test_posts_that_fail_validation_or_the_bot_checks_use_no_allowance(tenant: Tenant, clock: list[float]) -> None:
    for _ in range(6):
        bad = as_person(tenant.campaign, "lead", {"first_name": "", "email": "not-an-email"})
        assert Client().post(lead_url(tenant.referrer), bad, REMOTE_ADDR=BOT).status_code == 400
        assert Client().post(lead_url(tenant.referrer), {"email": "x@example.com"}, REMOTE_ADDR=BOT).status_code == 400
    for n in range(5):
        assert post_lead(tenant, n).status_code == 200


def test_the_ip_limit_is_counted_per_campaign(tenant: Tenant, other_tenant: Tenant, clock: list[float]) -> None:
    for n in range(5):
        assert post_lead(tenant, n).status_code == 200
    assert post_lead(tenant, 5).status_code == 429
    assert post_lead(other_tenant, 5).status_code == 200


def test_an_ipv6_client_is_counted_by_its_64_prefix(tenant: Tenant, clock: list[float]) -> None:
    for n in range(5):
        assert post_lead(tenant, n, ip=f"2001:db8:1:2::{n + 1}").status_code == 200
    assert post_lead(tenant, 5, ip="2001:db8:1:2:ffff::9").status_code == 429
    assert post_lead(tenant, 6, ip="2001:db8:1:3::1").status_code == 200


def test_the_campaign_ceiling_per_hour_refuses_every_address_once_reached(tenant: Tenant, clock: list[float]) -> None:
    Campaign.objects.filter(pk=tenant.campaign.pk).update(public_submissions_per_hour=3)
    for n in range(3):
        assert post_lead(tenant, n, ip=f"203.0.113.{n + 1}").status_code == 200
    refused = post_lead(tenant, 3, ip="203.0.113.50")
    assert refused.status_code == 429 and "Please try again later" in refused.content.decode()
    assert new_leads(tenant) == 3

    # The owner raises it on Campaign Settings → General.
    settings_url = reverse("campaign_settings", args=[tenant.campaign.pk, "general"])
    assert 'name="public_submissions_per_hour" value="3"' in tenant.client.get(settings_url).content.decode()
    form = {"name": tenant.campaign.name, "slug": tenant.campaign.slug, "public_submissions_per_hour": "10"}
    assert tenant.client.post(settings_url, form).status_code == 302
    assert Campaign.objects.get(pk=tenant.campaign.pk).public_submissions_per_hour == 10
    assert post_lead(tenant, 4, ip="203.0.113.51").status_code == 200


def test_the_campaign_ceiling_defaults_to_200_and_is_kept_when_general_settings_omit_it(tenant: Tenant) -> None:
    assert tenant.campaign.public_submissions_per_hour == 200
    settings_url = reverse("campaign_settings", args=[tenant.campaign.pk, "general"])
    tenant.client.post(settings_url, {"name": "Renamed", "slug": tenant.campaign.slug})
    assert Campaign.objects.get(pk=tenant.campaign.pk).public_submissions_per_hour == 200
    zero = {"name": "Renamed", "slug": tenant.campaign.slug, "public_submissions_per_hour": "0"}
    bad = tenant.client.post(settings_url, zero)
    assert bad.status_code == 200 and "greater than or equal to 1" in bad.content.decode()


def test_the_database_cache_counts_concurrent_hits_exactly(transactional_db: None) -> None:
    """The stock database cache's incr reads then writes, so concurrent hits overwrite each other's counts."""
    key = f"concurrent-{uuid.uuid4().hex}"
    cache.set(key, 0, 60)
    barrier = threading.Barrier(8)

    def hit() -> None:
        barrier.wait()
        for _ in range(10):
            cache.incr(key)
        connection.close()

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get(key) == 80


def test_the_cache_table_is_created_by_migrate() -> None:
    table = caches["default"]._table  # type: ignore[attr-defined]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {connection.ops.quote_name(table)}")
    assert table not in connection.introspection.table_names()
    call_command("migrate", verbosity=0)
    assert table in connection.introspection.table_names()


@pytest.fixture
def redis_cache(settings: Any) -> Iterator[redis.Redis]:
    """Django's Redis cache at 127.0.0.1:6379 under a key prefix of this test's own, removed afterwards."""
    with redis_keys.own_prefix() as (client, prefix):
        settings.CACHES = {"default": {"BACKEND": redis_keys.BACKEND, "LOCATION": REDIS_URL, "KEY_PREFIX": prefix}}
        yield client
    assert not list(client.scan_iter(match=f"{prefix}:*"))


@pytest.mark.redis
def test_the_limits_hold_with_redis_as_the_cache(tenant: Tenant, clock: list[float], redis_cache: redis.Redis) -> None:
    for n in range(5):
        assert post_lead(tenant, n).status_code == 200
    assert post_lead(tenant, 5).status_code == 429
    assert new_leads(tenant) == 5
    prefix = caches["default"].key_prefix
    assert len(list(redis_cache.scan_iter(match=f"{prefix}:*:rl:*"))) == 2  # the IP's and the campaign's counters
    # Each post that passed the bot checks spent its token, the sixth (then rate-limited) too.
    assert len(list(redis_cache.scan_iter(match=f"{prefix}:*:form-token:*"))) == 6


def test_a_cache_outage_lets_real_leads_through(tenant: Tenant, settings: Any, caplog: Any) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "referloop.runtime.redis_cache.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }
    assert post_lead(tenant, 1).status_code == 200
    assert Lead.objects.filter(email="friend1@example.com").exists()
    assert "rate limit public-lead-ip" in caplog.text


# --- 3. client IP and user agent ---------------------------------------------------------------------------------


def test_a_lead_and_a_referrer_from_the_public_forms_record_ip_and_user_agent(tenant: Tenant) -> None:
    post_lead(tenant, 1, ip="203.0.113.4", HTTP_USER_AGENT="Mozilla/5.0 (test)")
    lead = Lead.objects.get(email="friend1@example.com")
    assert (lead.client_ip, lead.user_agent) == ("203.0.113.4", "Mozilla/5.0 (test)")

    post_join(tenant, 1, ip="2001:db8::7")
    assert Referrer.objects.get(email="ref1@example.com").client_ip == "2001:db8::7"


def test_leads_from_other_sources_have_no_client(tenant: Tenant) -> None:
    lead = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "A", "email": "a@example.com"}, LeadSource.API)
    lead.lead.refresh_from_db()
    assert (lead.lead.client_ip, lead.lead.user_agent) == (None, "")


def test_a_forwarded_header_is_ignored_unless_configured(tenant: Tenant) -> None:
    post_lead(tenant, 1, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.4")
    assert Lead.objects.get(email="friend1@example.com").client_ip == "10.0.0.2"


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (1, "203.0.113.4", "203.0.113.4"),
        (1, "1.1.1.1, 203.0.113.4", "203.0.113.4"),  # the leftmost was written by the client: not trusted
        (2, "1.1.1.1, 203.0.113.4, 10.0.0.3", "203.0.113.4"),
        (2, "203.0.113.4", "10.0.0.2"),  # fewer hops than proxies: the connecting address
        (1, "not-an-ip", "10.0.0.2"),
        (1, "203.0.113.4:5123", "203.0.113.4"),
        (1, "[2001:db8::1]:443", "2001:db8::1"),
    ],
)
def test_a_trusted_proxy_header_gives_the_address_its_proxies_saw(
    tenant: Tenant, settings: Any, count: int, forwarded: str, expected: str
) -> None:
    settings.TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_COUNT = count
    post_lead(tenant, 1, ip="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert Lead.objects.get(email="friend1@example.com").client_ip == expected


def test_the_proxy_header_is_believed_only_from_the_trusted_proxy_networks(tenant: Tenant, settings: Any) -> None:
    settings.TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]

    post_lead(tenant, 1, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.4")  # through our proxy
    post_lead(tenant, 2, ip="198.51.100.9", HTTP_X_FORWARDED_FOR="203.0.113.5")  # straight to the app
    post_lead(tenant, 3, ip="fd00::7", HTTP_X_FORWARDED_FOR="2001:db8::1")

    assert Lead.objects.get(email="friend1@example.com").client_ip == "203.0.113.4"
    assert Lead.objects.get(email="friend2@example.com").client_ip == "198.51.100.9"
    assert Lead.objects.get(email="friend3@example.com").client_ip == "2001:db8::1"


def test_a_bad_trusted_proxy_network_stops_the_start_naming_it() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"REFERLOOP_TRUSTED_PROXY_NETWORKS: .*10\.0\.0\.0/33"):
        proxy_networks("10.0.0.0/8, 10.0.0.0/33")


def test_the_rate_limit_counts_the_trusted_client_ip(tenant: Tenant, settings: Any, clock: list[float]) -> None:
    settings.TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    for n in range(5):  # a bot behind our proxy varying the part of the header it controls
        assert post_lead(tenant, n, ip="10.0.0.2", HTTP_X_FORWARDED_FOR=f"9.9.9.{n}, {BOT}").status_code == 200
    assert post_lead(tenant, 5, ip="10.0.0.2", HTTP_X_FORWARDED_FOR=f"9.9.9.5, {BOT}").status_code == 429
    assert post_lead(tenant, 6, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.4").status_code == 200


# --- 4. Suspicious leads -----------------------------------------------------------------------------------------


def form_lead(tenant: Tenant, n: int, ip: str | None, referrer: Referrer | None = None) -> Lead:
    lead = Lead.objects.create(
        campaign=tenant.campaign,
        referrer=referrer or tenant.referrer,
        first_name=f"Friend{n}",
        email=f"friend{n}@example.com",
        client_ip=ip,
    )
    return lead


def leads_page(tenant: Tenant, **params: str) -> str:
    return tenant.client.get(reverse("lead_list", args=[tenant.campaign.pk]), params).content.decode()


def row_of(page: str, name: str) -> str:
    match = re.search(rf"<tr><td><a [^>]*>{name}</a>.*?</tr>", page, re.S)
    assert match is not None, name
    return match.group()


def test_a_lead_from_its_referrers_ip_is_suspicious(tenant: Tenant) -> None:
    Referrer.objects.filter(pk=tenant.referrer.pk).update(client_ip="203.0.113.4")
    form_lead(tenant, 1, "203.0.113.4")
    form_lead(tenant, 2, "203.0.113.5")

    page = leads_page(tenant)

    assert 'title="Same IP address as the referrer">Suspicious' in row_of(page, "Friend1")
    assert "Suspicious" not in row_of(page, "Friend2")
    assert "Suspicious" not in row_of(page, "Tom Nguyen")  # no client IP: from the API, CSV or admin


def test_more_than_n_leads_from_one_ip_are_suspicious(tenant: Tenant, settings: Any) -> None:
    settings.SUSPICIOUS_LEADS_PER_IP = 3
    for n in range(3):
        form_lead(tenant, n, "203.0.113.4")
    assert "Suspicious" not in leads_page(tenant).split("<tbody>")[1]  # exactly N is not "more than N"

    form_lead(tenant, 3, "203.0.113.4")
    form_lead(tenant, 4, "203.0.113.5")
    page = leads_page(tenant)
    for n in range(4):
        assert "4 leads from this IP address in this campaign" in row_of(page, f"Friend{n}")
    assert "Suspicious" not in row_of(page, "Friend4")


def test_the_suspicious_filter_lists_only_suspicious_leads(tenant: Tenant, settings: Any) -> None:
    settings.SUSPICIOUS_LEADS_PER_IP = 1
    Referrer.objects.filter(pk=tenant.referrer.pk).update(client_ip="203.0.113.9")
    form_lead(tenant, 1, "203.0.113.4")
    form_lead(tenant, 2, "203.0.113.4")
    form_lead(tenant, 3, "203.0.113.5")
    form_lead(tenant, 4, "203.0.113.9")

    page = leads_page(tenant, suspicious="1")

    names = re.findall(r"<tr><td><a [^>]*>([^<]+)</a>", page)
    assert sorted(names) == ["Friend1", "Friend2", "Friend4"]
    assert 'name="suspicious" value="1" checked' in page


def test_the_suspicious_filter_looks_at_the_newest_leads_with_an_ip_only_and_says_so(
    tenant: Tenant, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SUSPICIOUS_LEADS_PER_IP = 1
    monkeypatch.setattr(suspicious, "FILTER_WINDOW", 3)
    Referrer.objects.filter(pk=tenant.referrer.pk).update(client_ip="203.0.113.9")
    now = timezone.now()
    for n, ip in enumerate(["203.0.113.9", "203.0.113.4", "203.0.113.4", "198.51.100.1", "198.51.100.2"]):
        lead = form_lead(tenant, n, ip)  # the two crowded ones and the referrer's own address: oldest
        Lead.objects.filter(pk=lead.pk).update(created_at=now - timedelta(hours=10 - n))
    form_lead(tenant, 5, "198.51.100.3")
    form_lead(tenant, 6, "198.51.100.3")  # a crowd among the newest three

    page = leads_page(tenant, suspicious="1")

    names = re.findall(r"<tr><td><a [^>]*>([^<]+)</a>", page)
    assert sorted(names) == ["Friend5", "Friend6"]
    assert "among this campaign&#x27;s newest 3 leads that came with an IP address" in page
    assert "newest 3 leads" not in leads_page(tenant)  # the note goes with the filter


def test_flagging_a_page_of_leads_takes_the_same_queries_for_5_or_40_rows(
    tenant: Tenant, django_assert_max_num_queries: Any
) -> None:
    Referrer.objects.filter(pk=tenant.referrer.pk).update(client_ip="203.0.113.9")
    for n in range(5):
        form_lead(tenant, n, f"203.0.113.{n % 2}")
    with CountQueries() as few:
        leads_page(tenant)
    for n in range(5, 40):
        form_lead(tenant, n, f"203.0.113.{n % 7}")
    with django_assert_max_num_queries(few.count):
        page = leads_page(tenant)
    assert "leads from this IP address in this campaign" in page


class CountQueries:
    def __enter__(self) -> CountQueries:
        from django.test.utils import CaptureQueriesContext

        self._context = CaptureQueriesContext(connection)
        self._context.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(*exc)
        self.count = len(self._context.captured_queries)


def test_the_lead_page_says_why_a_lead_is_suspicious_and_where_it_came_from(tenant: Tenant) -> None:
    Referrer.objects.filter(pk=tenant.referrer.pk).update(client_ip="203.0.113.4")
    lead = form_lead(tenant, 1, "203.0.113.4")
    Lead.objects.filter(pk=lead.pk).update(user_agent="Mozilla/5.0 (test)")

    page = tenant.client.get(reverse("lead_detail", args=[tenant.campaign.pk, lead.pk])).content.decode()

    assert "Suspicious</span> Same IP address as the referrer" in page
    assert "Sent from 203.0.113.4 · Mozilla/5.0 (test)" in page


def test_a_leads_own_link_makes_a_referrer_with_the_leads_ip(tenant: Tenant) -> None:
    post_lead(tenant, 1, ip="203.0.113.4")
    lead = Lead.objects.get(email="friend1@example.com")
    Client().get(reverse("referral_page", args=[lead.code]))
    assert Referrer.objects.get(code=lead.code).client_ip == "203.0.113.4"


def test_other_tenants_leads_do_not_count_towards_suspicion(tenant: Tenant, settings: Any) -> None:
    settings.SUSPICIOUS_LEADS_PER_IP = 1
    other = make_tenant("Rival", "owner@rival2.example", "rival-two")
    form_lead(tenant, 1, "203.0.113.4")
    Lead.objects.create(
        campaign=other.campaign, referrer=other.referrer, first_name="X", email="x@example.com", client_ip="203.0.113.4"
    )
    assert "Suspicious" not in row_of(leads_page(tenant), "Friend1")
