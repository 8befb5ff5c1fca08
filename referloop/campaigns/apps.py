from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CampaignsConfig(AppConfig):
    name = "referloop.campaigns"
    label = "campaigns"

    def ready(self) -> None:
        from referloop.campaigns.abuse.cache import create_cache_tables

        post_migrate.connect(create_cache_tables, sender=self, dispatch_uid="referloop.create_cache_tables")
