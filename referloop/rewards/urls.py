"""Under campaigns/<campaign_id>/rewards/ (referloop/urls.py)."""

from django.urls import path

from referloop.rewards import views

urlpatterns = [
    path("", views.rewards_tab, name="rewards_tab"),
    path("bulk/", views.rewards_bulk, name="rewards_bulk"),
    path("export.csv", views.rewards_export, name="rewards_export"),
    path("codes/<slug:kind>/", views.code_upload, name="reward_code_upload"),
    path("<int:reward_id>/", views.reward_detail, name="reward_detail"),
    path("<int:reward_id>/issue/", views.reward_issue, name="reward_issue"),
    path("<int:reward_id>/cancel/", views.reward_cancel, name="reward_cancel"),
]
