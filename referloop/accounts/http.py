"""Request types for type checking: what the middleware and the auth layers put on a request."""

from __future__ import annotations

from django.http import HttpRequest

from referloop.accounts.models import Account, Membership, User


class AccountRequest(HttpRequest):
    """A request in a signed-in screen guarded by `account_required`: user, account and membership are set."""

    user: User
    account: Account
    membership: Membership


class ApiRequest(HttpRequest):
    """A REST API request authenticated by an account's API key."""

    account: Account
