from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from referloop.api import api
from referloop.campaigns import public_views, views
from referloop.integrations.metrics import metrics_view
from referloop.notifications import views as notification_views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("account/webhooks/", include("referloop.integrations.webhooks.urls")),
    path("", include("referloop.accounts.urls")),
    path("campaigns/", include("referloop.campaigns.urls")),
    path("", include("referloop.diagnostics.urls")),
    path("campaigns/<int:campaign_id>/integrations/", include("referloop.integrations.urls")),
    path("campaigns/<int:campaign_id>/emails/", include("referloop.notifications.urls")),
    path("campaigns/<int:campaign_id>/rewards/", include("referloop.rewards.urls")),
    path("c/<slug:slug>/join/", public_views.referrer_join, name="referrer_join"),
    path("c/<slug:slug>/me/", include("referloop.portal.urls")),
    path("r/<str:code>/", public_views.referral_page, name="referral_page"),
    path("v/<str:token>/", public_views.verify_email, name="verify_email"),
    path("u/<str:token>/", notification_views.unsubscribe_page, name="unsubscribe"),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    # Browsers ask for /favicon.ico on every page that names none (the admin, the API docs).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
]

handler500 = "referloop.runtime.errors.server_error"
