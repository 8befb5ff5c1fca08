"""The Webhooks screens, mounted under account/webhooks/ (see referloop/urls.py): endpoints belong to the account.

`webhook_endpoint` takes only the endpoint's id: the "endpoint disabled" email links to it (webhooks/alerts.py).
"""

from django.urls import path

from referloop.integrations.webhooks import views

urlpatterns = [
    path("", views.webhook_list, name="webhook_list"),
    path("new/", views.webhook_add, name="webhook_add"),
    path("<int:endpoint_id>/", views.webhook_endpoint, name="webhook_endpoint"),
    path("<int:endpoint_id>/edit/", views.webhook_edit, name="webhook_edit"),
    path("<int:endpoint_id>/delete/", views.webhook_delete, name="webhook_delete"),
    path("<int:endpoint_id>/rotate-secret/", views.webhook_rotate, name="webhook_rotate"),
    path("<int:endpoint_id>/disable/", views.webhook_disable, name="webhook_disable"),
    path("<int:endpoint_id>/enable/", views.webhook_enable, name="webhook_enable"),
    path("<int:endpoint_id>/test/", views.webhook_test, name="webhook_test"),
    path("<int:endpoint_id>/deliveries/<int:delivery_id>/", views.webhook_delivery, name="webhook_delivery"),
    path("<int:endpoint_id>/deliveries/<int:delivery_id>/resend/", views.webhook_resend, name="webhook_resend"),
]
