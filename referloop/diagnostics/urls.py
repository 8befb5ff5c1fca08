from django.urls import path

from referloop.diagnostics import views

DIAGNOSE = "campaigns/<int:campaign_id>/integrations/<slug:provider>/diagnose/"

urlpatterns = [
    path(DIAGNOSE, views.diagnose, name="integration_diagnose"),
    path(f"{DIAGNOSE}run/", views.run, name="integration_diagnose_run"),
    path(f"{DIAGNOSE}test-booking/", views.test_booking, name="integration_test_booking"),
    path(f"{DIAGNOSE}support-bundle/", views.support_bundle, name="integration_support_bundle"),
    path("leads/find/", views.lead_search, name="lead_search"),
]
