from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "referloop.campaigns"
    label = "campaigns"
