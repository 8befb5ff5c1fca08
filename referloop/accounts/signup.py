"""Sign-up by email link: the page answers the same for every address, the inbox tells the owner the rest.

Step one takes a business name and an email and always answers "check your inbox". A new address gets a signed,
time-limited link (no row is written until it is used) that opens "choose a password" and creates the account;
an address that already has an account gets a note saying so, with links to log in and to reset the password.
Saying "An account with this email already exists" on the page told anyone which addresses have accounts.

Keeping the password on the first page was rejected: it would have to wait somewhere (a row for an account
nobody proved, or a hash inside the emailed link) until the link is used.

The link's token is in its path, so the one request that opens it lands in access logs; the view keeps it in the
session and sends the browser on to a URL without it (`/signup/confirm/set/`, as Django's PasswordResetConfirmView
does), so no later request, Referer header or history entry carries it.

A mail server that is down is said on the page (accounts/mail.py): nothing is stored by then, and the address's
email allowance isn't spent, so trying again a few minutes later just works.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.http import HttpRequest
from django.urls import reverse

from referloop.accounts.mail import mail_server_reachable, send_now
from referloop.accounts.models import Membership, User
from referloop.accounts.throttling import email_allowed

SALT = "referloop.accounts.signup"
LINK_VALID_SECONDS = 2 * 24 * 3600
# Where the emailed link's token waits between opening the link and choosing the password.
SESSION_TOKEN_KEY = "_signup_token"


@dataclass(frozen=True)
class PendingSignUp:
    email: str
    account_name: str


def make_token(pending: PendingSignUp) -> str:
    return signing.dumps({"email": pending.email, "account": pending.account_name}, salt=SALT, compress=True)


def read_token(token: str) -> PendingSignUp | None:
    """The sign-up a link stands for, or None if it was altered or is older than LINK_VALID_SECONDS."""
    try:
        data = signing.loads(token, salt=SALT, max_age=LINK_VALID_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("email"), str) or not isinstance(data.get("account"), str):
        return None
    return PendingSignUp(email=data["email"], account_name=data["account"])


def request_sign_up(request: HttpRequest, email: str, account_name: str) -> bool:
    """Email the address: a link to finish signing up, or (if it has an account) a note that it has one.

    False when the mail server couldn't take it (logged; the page says so). True otherwise, also when the
    address's allowance is spent and nothing was sent: that answers as usual (throttling.py says why).
    """
    if not mail_server_reachable("sign-up"):  # before the allowance is counted: an outage must not spend it
        return False
    if not email_allowed(request, "signup", email):
        return True
    existing = User.objects.filter(email__iexact=email).first()
    if existing is None:
        token = make_token(PendingSignUp(email, account_name))
        link = settings.PUBLIC_BASE_URL + reverse("signup_confirm", args=[token])
        subject = "Finish creating your referloop account"
        body = (
            f"Hi,\n\nTo finish creating the referloop account for {account_name}, choose a password here:\n\n"
            f"{link}\n\nThe link works for 2 days. If you didn't ask for this, you can ignore this email.\n"
        )
    else:
        subject = "You already have a referloop account"
        accounts = sorted(
            Membership.objects.filter(user=existing).values_list("account__name", flat=True), key=str.casefold
        )
        names = f" ({', '.join(accounts)})" if accounts else ""
        body = (
            f"Hi,\n\nSomeone (we hope you) tried to sign up for referloop as {existing.email}. This address already "
            f"has an account{names}, so nothing new was created.\n\n"
            f"Log in: {settings.PUBLIC_BASE_URL}{reverse('login')}\n"
            f"Forgot your password? {settings.PUBLIC_BASE_URL}{reverse('password_reset')}\n\n"
            "If this wasn't you, you can ignore this email: your account is unchanged.\n"
        )
    return send_now(subject, body, [email], purpose="sign-up")
