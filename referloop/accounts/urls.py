from django.contrib.auth import views as auth_views
from django.urls import path

from referloop.accounts import views
from referloop.accounts.forms import EmailAuthenticationForm
from referloop.accounts.throttling import ResetPasswordAndLockoutView, ThrottledPasswordResetView

urlpatterns = [
    path("signup/", views.sign_up, name="signup"),
    path("signup/sent/", views.sign_up_sent, name="signup_sent"),
    # The fixed address first: the emailed link's token moves into the session and off the URL (views.py).
    path("signup/confirm/set/", views.sign_up_set_password, name="signup_confirm_set"),
    path("signup/confirm/<str:token>/", views.sign_up_confirm, name="signup_confirm"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="accounts/login.html", authentication_form=EmailAuthenticationForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        ThrottledPasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        ResetPasswordAndLockoutView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html"),
        name="password_reset_complete",
    ),
    path("account/none/", views.no_account, name="no_account"),
    path("account/members/", views.members, name="members"),
    path("account/members/invite/", views.invite, name="invite"),
    path("invite/accept/", views.accept_invitation, name="accept_invitation"),
    path("invite/<str:token>/", views.open_invitation, name="invitation_link"),
    path("account/switch/", views.switch_account, name="switch_account"),
    path("account/api-keys/", views.api_keys, name="api_keys"),
    path("account/changes/", views.change_history, name="change_history"),
    path("account/api-keys/<int:key_id>/revoke/", views.revoke_api_key, name="revoke_api_key"),
]
