from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "referloop.integrations"
    label = "integrations"
