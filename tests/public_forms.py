"""Posting the public forms as a person does: with the signed timestamp the page served a while ago.

The public forms refuse a post without it, or sent within seconds of the page being served (bots;
referloop/campaigns/abuse/formguard.py). A test that posts `/c/<slug>/join/` or `/r/<code>/` adds these fields.
"""

from __future__ import annotations

import time

from referloop.campaigns.abuse.formguard import TOKEN_FIELD, FormKind, issue_token
from referloop.campaigns.models import Campaign


def as_person(campaign: Campaign, kind: str, data: dict[str, str], seconds_ago: float = 30) -> dict[str, str]:
    """`data` plus the hidden fields of a `kind` ("join" or "lead") form served `seconds_ago` seconds ago."""
    return {**data, TOKEN_FIELD: issue_token(campaign, FormKind(kind), served_at=time.time() - seconds_ago)}
