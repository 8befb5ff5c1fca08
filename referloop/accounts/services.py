"""Account rules: sign-up, invitations, membership checks. Views stay thin and call these."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from referloop.accounts.models import Account, Invitation, Membership, Role, User, hash_token


@transaction.atomic
def sign_up(email: str, password: str, account_name: str) -> User:
    """Create a user, their business account and the owner membership, all or nothing."""
    user = User.objects.create_user(email=email, password=password)
    account = Account.objects.create(name=account_name)
    Membership.objects.create(user=user, account=account, role=Role.OWNER)
    return user


def create_invitation(account: Account, email: str, role: str, invited_by: User) -> tuple[Invitation, str]:
    """Return the invitation and its raw token (sent by email, stored only as a hash)."""
    raw = secrets.token_urlsafe(24)
    invitation = Invitation.objects.create(
        account=account, email=email.lower(), role=role, token_hash=hash_token(raw), invited_by=invited_by
    )
    return invitation, raw


def find_invitation(raw_token: str) -> Invitation | None:
    invitation = Invitation.objects.select_related("account").filter(token_hash=hash_token(raw_token)).first()
    if invitation is None or not invitation.is_usable:
        return None
    return invitation


@transaction.atomic
def accept_invitation(invitation: Invitation, user: User) -> Membership:
    """Join the account; accepting twice keeps the first membership and its role."""
    claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(accepted_at=timezone.now())
    membership, created = Membership.objects.get_or_create(
        user=user, account=invitation.account, defaults={"role": invitation.role}
    )
    if not claimed and created:
        # Someone else used the token between our read and the update: undo.
        transaction.set_rollback(True)
        raise ValueError("This invitation has already been used.")
    return membership
