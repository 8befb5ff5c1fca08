from django.apps import AppConfig


class CustomerSyncConfig(AppConfig):
    name = "referloop.integrations.servicetitan.customer_sync"
    label = "st_customer_sync"
    verbose_name = "ServiceTitan customer sync"

    def ready(self) -> None:
        from referloop.integrations import destinations
        from referloop.integrations.servicetitan.customer_sync.runner import CustomerSyncJob

        # Beside the deliveries and the follower in every worker; the lease on each sync keeps it to one worker.
        destinations.register_background("servicetitan-customer-sync", CustomerSyncJob.in_worker)
