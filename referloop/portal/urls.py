"""Under c/<slug>/me/ (referloop/urls.py)."""

from django.urls import path

from referloop.portal import views

urlpatterns = [
    path("", views.referrer_page, name="portal"),
    path("in/", views.sign_in, name="portal_sign_in"),
    path("in/<str:token>/", views.open_link, name="portal_link"),
    path("out/", views.sign_out, name="portal_sign_out"),
]
