from django.urls import path

from referloop.campaigns import views

urlpatterns = [
    path("", views.campaign_list, name="campaign_list"),
    path("new/", views.campaign_create, name="campaign_create"),
    path("<int:campaign_id>/", views.campaign_detail, name="campaign_detail"),
    path("<int:campaign_id>/archive/", views.campaign_archive, name="campaign_archive"),
    path("<int:campaign_id>/settings/", views.campaign_settings, name="campaign_settings_default"),
    path("<int:campaign_id>/settings/<slug:tab>/", views.campaign_settings, name="campaign_settings"),
    path("<int:campaign_id>/custom-fields/add/", views.custom_field_add, name="custom_field_add"),
    path(
        "<int:campaign_id>/custom-fields/<int:field_id>/delete/",
        views.custom_field_delete,
        name="custom_field_delete",
    ),
    path("<int:campaign_id>/referrers/", views.referrer_list, name="referrer_list"),
    path("<int:campaign_id>/referrers/add/", views.referrer_add, name="referrer_add"),
    path("<int:campaign_id>/referrers/<int:referrer_id>/", views.referrer_detail, name="referrer_detail"),
    path("<int:campaign_id>/leads/", views.lead_list, name="lead_list"),
    path("<int:campaign_id>/leads/add/", views.lead_add, name="lead_add"),
    path("<int:campaign_id>/leads/<int:lead_id>/", views.lead_detail, name="lead_detail"),
    path("<int:campaign_id>/leads/<int:lead_id>/verification/", views.lead_verification, name="lead_verification"),
    path("<int:campaign_id>/leads/<int:lead_id>/outcome/", views.lead_outcome, name="lead_outcome"),
    path("<int:campaign_id>/import/<slug:kind>/", views.csv_import, name="csv_import"),
    path("<int:campaign_id>/imports/<int:job_id>/", views.csv_import_progress, name="csv_import_progress"),
]
