from django.apps import AppConfig
from django.db.models.signals import post_save


class CustomerSyncConfig(AppConfig):
    name = "referloop.integrations.servicetitan.customer_sync"
    label = "st_customer_sync"
    verbose_name = "ServiceTitan customer sync"

    def ready(self) -> None:
        from referloop.integrations import destinations
        from referloop.integrations.models import Integration
        from referloop.integrations.servicetitan import known_customers
        from referloop.integrations.servicetitan.customer_sync.index import StagedContactIndex
        from referloop.integrations.servicetitan.customer_sync.keeping import integration_saved
        from referloop.integrations.servicetitan.customer_sync.runner import CustomerSyncJob

        # Beside the deliveries and the follower in every worker; the lease on each sync keeps it to one worker.
        destinations.register_background("servicetitan-customer-sync", CustomerSyncJob.in_worker)
        # The contacts copy answers the known-customer lookup (no call when it covers the integration).
        known_customers.register_index(StagedContactIndex())
        post_save.connect(integration_saved, sender=Integration, dispatch_uid="st-customer-sync-keep-contacts")
