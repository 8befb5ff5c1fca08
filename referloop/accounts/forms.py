from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.mail import EmailMultiAlternatives
from django.template import loader

from referloop.accounts.mail import send_after_response
from referloop.accounts.models import Role, User


class SignUpForm(forms.Form):
    """The first step of sign-up: the business and an address to prove. The password comes with the emailed link.

    It never says whether the address already has an account: both answers are "check your inbox" (signup.py).
    """

    account_name = forms.CharField(label="Business name", max_length=120)
    email = forms.EmailField(label="Work email", max_length=254)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class ChoosePasswordForm(forms.Form):
    """The password for an address that is already proven: a sign-up link or an invitation."""

    password = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False, max_length=128)

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        password_validation.validate_password(password, User(email=self.email))
        return password


class EmailAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password don't match an account. Passwords are case-sensitive.",
    }
    username = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autofocus": True}))


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args: Any, inviter_role: str = Role.MEMBER, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if inviter_role != Role.OWNER:
            # Only an owner can make another owner.
            role_field = self.fields["role"]
            assert isinstance(role_field, forms.ChoiceField)
            role_field.choices = [c for c in Role.choices if c[0] != Role.OWNER]


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What uses this key, e.g. “Website form”.")


class ResetEmailForm(PasswordResetForm):
    """Django's password-reset form, sending through accounts/mail.py: Django's own send logs a failure with its
    traceback, whose exception text a mail provider may fill with the message it was given (the reset link)."""

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        message = EmailMultiAlternatives(subject, body, from_email, [to_email])
        if html_email_template_name is not None:
            message.attach_alternative(loader.render_to_string(html_email_template_name, context), "text/html")
        # After the response: its timing must not tell an address with an account from one without (mail.py).
        send_after_response(message, purpose="password-reset")
