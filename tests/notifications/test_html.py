"""The HTML version: the account's text and every value escaped; the plain text keeps them as typed."""

from __future__ import annotations

from typing import Any

import pytest

from referloop.notifications.models import Notification
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead
from tests.notifications.helpers import give_address, html_of, send_all, sent_to, turn_on

pytestmark = pytest.mark.django_db(transaction=True)


def test_values_people_typed_are_escaped_in_the_html_and_kept_as_typed_in_the_text(
    tenant: Tenant, mailoutbox: list[Any]
) -> None:
    turn_on(
        tenant.campaign,
        Notification.FRIEND_JOINED,
        subject="{Lead First Name} joined",
        body="Hi {Referrer First Name} & co,\n{Lead First Name} <joined>.\n\nLink: {Referrer Referral Link}",
    )
    give_address(tenant.account, "1 <Main> St & Sons")
    tenant.referrer.first_name = '<img src=x onerror="alert(1)">'
    tenant.referrer.save()
    add_lead(tenant.campaign, tenant.referrer, first_name="<script>alert(1)</script>")

    send_all()

    [message] = sent_to(tenant.referrer.email)
    assert message.subject == "<script>alert(1)</script> joined"
    assert message.body.startswith('Hi <img src=x onerror="alert(1)"> & co,\n<script>alert(1)</script> <joined>.')
    html = html_of(message)
    assert "<script>" not in html and "<img" not in html and "<joined>" not in html
    assert "<p>Hi &lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; co,<br>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;joined&gt;.</p>" in html
    assert f'<p>Link: <a href="{tenant.referrer.referral_url}">' in html
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; joined</title>" in html
    assert "1 &lt;Main&gt; St &amp; Sons" in html
