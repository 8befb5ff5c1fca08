"""Sign-up, members and invitations, account switching, API keys."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from referloop.accounts import audit, services, signup
from referloop.accounts.decorators import account_required, manager_required
from referloop.accounts.forms import ApiKeyForm, ChoosePasswordForm, InviteForm, SignUpForm
from referloop.accounts.http import AccountRequest
from referloop.accounts.mail import UNAVAILABLE, send_now
from referloop.accounts.middleware import SESSION_KEY
from referloop.accounts.models import AccountChange, ApiKey, Invitation, Membership, User
from referloop.security.ids import id_from

INVITATION_SESSION_KEY = "_invitation_token"  # the invitation opened in this session (open_invitation)


def sign_up(request: HttpRequest) -> HttpResponse:
    """Step one: the same "check your inbox" for every address (signup.py says why)."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if signup.request_sign_up(request, form.cleaned_data["email"], form.cleaned_data["account_name"]):
            return redirect("signup_sent")
        form.add_error(None, UNAVAILABLE)  # the mail server is down: nothing was stored, try again later
        return render(request, "accounts/signup.html", {"form": form}, status=503)
    return render(request, "accounts/signup.html", {"form": form})


def sign_up_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/signup_sent.html")


@never_cache
def sign_up_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: its token goes into the session and the browser on to `signup_confirm_set`, a URL
    without it, so it is in no later request, Referer or history entry (as PasswordResetConfirmView does)."""
    if signup.read_token(token) is None:
        response = render(request, "accounts/signup_link_invalid.html", status=404)
    else:
        request.session[signup.SESSION_TOKEN_KEY] = token
        response = redirect("signup_confirm_set")
    response["Referrer-Policy"] = "no-referrer"  # this response's URL holds the token: never pass it on
    return response


@never_cache
@sensitive_post_parameters("password")
def sign_up_set_password(request: HttpRequest) -> HttpResponse:
    """Step two: choose a password, for the link opened in this session; the account is created now."""
    token = request.session.get(signup.SESSION_TOKEN_KEY)
    pending = signup.read_token(token) if isinstance(token, str) else None
    if pending is None:
        return render(request, "accounts/signup_link_invalid.html", status=404)
    if User.objects.filter(email__iexact=pending.email).exists():
        # Only the owner of the address has this link: telling them is no leak.
        request.session.pop(signup.SESSION_TOKEN_KEY, None)
        messages.info(request, "This sign-up link has already been used. Log in instead.")
        return redirect("login")
    form = ChoosePasswordForm(request.POST or None, email=pending.email)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.sign_up(pending.email, form.cleaned_data["password"], pending.account_name)
        except IntegrityError:  # the same link used twice at once
            request.session.pop(signup.SESSION_TOKEN_KEY, None)
            messages.info(request, "This sign-up link has already been used. Log in instead.")
            return redirect("login")
        request.session.pop(signup.SESSION_TOKEN_KEY, None)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Welcome to referloop. Create your first campaign to get started.")
        return redirect("campaign_list")
    return render(request, "accounts/signup_confirm.html", {"form": form, "pending": pending})


def no_account(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/no_account.html")


@account_required
def members(request: AccountRequest) -> HttpResponse:
    account = request.account
    form = InviteForm(inviter_role=request.membership.role)
    return render(
        request,
        "accounts/members.html",
        {
            "form": form,
            "memberships": Membership.objects.filter(account=account).select_related("user").order_by("created_at"),
            "invitations": Invitation.objects.filter(account=account, accepted_at__isnull=True).order_by("-created_at"),
        },
    )


@manager_required
@require_POST
def invite(request: AccountRequest) -> HttpResponse:
    account = request.account
    form = InviteForm(request.POST, inviter_role=request.membership.role)
    if not form.is_valid():
        return _members_with_form(request, form, status=400)
    email = form.cleaned_data["email"]
    if Membership.objects.filter(account=account, user__email__iexact=email).exists():
        messages.info(request, f"{email} is already a member.")
        return redirect("members")
    invitation, raw = services.create_invitation(account, email, form.cleaned_data["role"], request.user)
    link = settings.PUBLIC_BASE_URL + reverse("invitation_link", args=[raw])
    sent = send_now(
        f"You're invited to {account.name} on referloop",
        f"{request.user.email} invited you to join {account.name} on referloop.\n\nAccept: {link}\n\n"
        "The link works for 7 days.",
        [email],
        purpose="invitation",
    )
    if not sent:
        invitation.delete()  # nobody can use a link that was never sent: no pending invitation is left behind
        form.add_error(None, UNAVAILABLE)
        return _members_with_form(request, form, status=503)
    audit.record(account, request.user, "Members", f"Invited {email} as {invitation.get_role_display().lower()}")
    messages.success(request, f"Invitation sent to {email}.")
    return redirect("members")


def _members_with_form(request: AccountRequest, form: InviteForm, status: int) -> HttpResponse:
    """The members page with the invitation form as posted, and its errors."""
    account = request.account
    return render(
        request,
        "accounts/members.html",
        {
            "form": form,
            "memberships": Membership.objects.filter(account=account).select_related("user"),
            "invitations": Invitation.objects.filter(account=account, accepted_at__isnull=True),
        },
        status=status,
    )


@never_cache
def open_invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: its token goes into the session and the browser on to `accept_invitation`, a URL without
    it, so it is in no later request, Referer, log line or history entry (as the sign-up link does)."""
    if services.find_invitation(token) is None:
        response = render(request, "accounts/invitation_invalid.html", status=404)
    else:
        request.session[INVITATION_SESSION_KEY] = token
        response = redirect("accept_invitation")
    response["Referrer-Policy"] = "no-referrer"  # this response's URL holds the token: never pass it on
    return response


@never_cache
@sensitive_post_parameters("password")
def accept_invitation(request: HttpRequest) -> HttpResponse:
    """The invitation opened in this session: join as the signed-in user, or choose a password for a new one."""
    token = request.session.get(INVITATION_SESSION_KEY, "")
    invitation = services.find_invitation(token) if isinstance(token, str) and token else None
    if invitation is None:
        return render(request, "accounts/invitation_invalid.html", status=404)
    if request.user.is_authenticated:
        if request.user.email.lower() != invitation.email:
            return render(request, "accounts/invitation_wrong_user.html", {"invitation": invitation}, status=403)
        if request.method == "POST":
            services.accept_invitation(invitation, request.user)
            del request.session[INVITATION_SESSION_KEY]
            request.session[SESSION_KEY] = invitation.account_id
            messages.success(request, f"You joined {invitation.account.name}.")
            return redirect("dashboard")
        return render(request, "accounts/invitation_accept.html", {"invitation": invitation})
    if User.objects.filter(email__iexact=invitation.email).exists():
        messages.info(request, "Log in to accept the invitation.")
        return redirect(f"{reverse('login')}?next={reverse('accept_invitation')}")
    form = ChoosePasswordForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        user = User.objects.create_user(email=invitation.email, password=form.cleaned_data["password"])
        services.accept_invitation(invitation, user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        request.session.pop(INVITATION_SESSION_KEY, None)
        request.session[SESSION_KEY] = invitation.account_id
        return redirect("dashboard")
    return render(request, "accounts/signup.html", {"form": form, "invitation": invitation})


@account_required
@require_POST
def switch_account(request: AccountRequest) -> HttpResponse:
    membership = get_object_or_404(Membership, user_id=request.user.pk, account_id=id_from(request.POST, "account_id"))
    request.session[SESSION_KEY] = membership.account_id
    messages.success(request, f"Switched to {membership.account.name}.")
    return redirect("dashboard")


@manager_required
def api_keys(request: AccountRequest) -> HttpResponse:
    account = request.account
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            key, new_key = ApiKey.issue(account, form.cleaned_data["name"], request.user)
            audit.record(account, request.user, "API keys", f"Created the key “{key.name}” ({key.masked})")
        form = ApiKeyForm()
    keys = ApiKey.objects.filter(account=account).order_by("-created_at")
    return render(request, "accounts/api_keys.html", {"form": form, "keys": keys, "new_key": new_key})


@manager_required
@require_POST
def revoke_api_key(request: AccountRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=key_id, account=request.account)
    with transaction.atomic():
        if ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
            audit.record(request.account, request.user, "API keys", f"Revoked the key “{key.name}” ({key.masked})")
    messages.success(request, f"Key “{key.name}” revoked. Requests using it are now refused.")
    return redirect("api_keys")


CHANGES_PAGE_SIZE = 50


@manager_required
def change_history(request: AccountRequest) -> HttpResponse:
    """Who changed what, newest first; `?campaign=<id>` narrows it to one campaign."""
    account = request.account
    changes = AccountChange.objects.filter(account=account).select_related("user", "campaign")
    campaign = None
    if "campaign" in request.GET:  # another account's campaign, or none: not found, never the whole history
        campaign = get_object_or_404(account.campaigns, pk=id_from(request.GET, "campaign"))
        changes = changes.filter(campaign=campaign)
    page = Paginator(changes.order_by("-at", "-pk"), CHANGES_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "accounts/changes.html", {"page": page, "campaign": campaign})
