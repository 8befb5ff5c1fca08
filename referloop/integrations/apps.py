from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "referloop.integrations"
    label = "integrations"

    def ready(self) -> None:
        from referloop.campaigns.intake import on_lead_created
        from referloop.integrations import destinations
        from referloop.integrations.outbox import create_deliveries
        from referloop.integrations.servicetitan.destination import NAME, ServiceTitanKind

        # Delivery rows are written inside the lead's own transaction.
        on_lead_created(create_deliveries)
        # The destinations the engine delivers to; it reaches each by its connector's name.
        destinations.register(NAME, ServiceTitanKind)
