"""Mounted under campaigns/<campaign_id>/integrations/ (see referloop/urls.py)."""

from django.urls import path

from referloop.integrations.servicetitan.customer_sync import views as referrers
from referloop.integrations.servicetitan.return_fields import views as return_fields
from referloop.integrations.servicetitan.views import connection_tab as connection
from referloop.integrations.servicetitan.views import leads_tab as leads
from referloop.integrations.servicetitan.views import pick_lists
from referloop.integrations.views import activity

urlpatterns = [
    path("<slug:provider>/", connection.integration_home, name="integration_home"),
    path("<slug:provider>/connection/", connection.connection, name="integration_connection"),
    path("<slug:provider>/connect/", connection.connect_step, name="integration_connect"),
    path("<slug:provider>/finalize/", connection.finalize, name="integration_finalize"),
    path("<slug:provider>/disconnect/", connection.disconnect_view, name="integration_disconnect"),
    path("<slug:provider>/leads/", leads.leads_tab, name="integration_leads"),
    path("<slug:provider>/leads/check/", leads.leads_check, name="integration_leads_check"),
    path("<slug:provider>/leads/qualification/", leads.qualification_rules, name="integration_qualification"),
    path("<slug:provider>/leads/row/", leads.mapping_row, name="integration_mapping_row"),
    path("<slug:provider>/leads/pick-lists/refresh/", pick_lists.refresh, name="integration_pick_lists_refresh"),
    path("<slug:provider>/referrers/", referrers.referrers_tab, name="integration_referrers"),
    path("<slug:provider>/referrers/returns/", return_fields.save_return_fields, name="integration_return_fields"),
    path("<slug:provider>/referrers/stop/", referrers.referrers_stop, name="integration_referrers_stop"),
    path("<slug:provider>/referrers/progress/", referrers.referrers_progress, name="integration_referrers_progress"),
    path("<slug:provider>/activity/", activity.activity, name="integration_activity"),
    path("<slug:provider>/activity/<int:delivery_id>/", activity.delivery_detail, name="integration_delivery"),
    path(
        "<slug:provider>/activity/<int:delivery_id>/resend/",
        activity.delivery_resend,
        name="integration_delivery_resend",
    ),
    path("<slug:provider>/activity/bulk/<slug:action>/", activity.bulk_action, name="integration_bulk"),
]
