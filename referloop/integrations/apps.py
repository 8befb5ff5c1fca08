from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "referloop.integrations"
    label = "integrations"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from referloop.campaigns.admission import on_lead_admitted
        from referloop.campaigns.outcomes import on_qualified, on_unqualified
        from referloop.campaigns.referrers import on_referrer_joined
        from referloop.integrations import destinations
        from referloop.integrations.servicetitan.destination import NAME, ServiceTitanKind
        from referloop.integrations.servicetitan.follower.runner import Follower
        from referloop.integrations.servicetitan.outbox import create_deliveries, forget_plans
        from referloop.integrations.servicetitan.return_fields import hooks as return_fields
        from referloop.integrations.servicetitan.return_fields.destination import CustomerKind
        from referloop.integrations.servicetitan.return_fields.outbox import match_joined, request_matches
        from referloop.integrations.webhooks import events as webhook_events
        from referloop.integrations.webhooks.destination import WebhookKind
        from referloop.notifications.destination import EmailKind

        # Delivery rows and webhook events are written in the transaction that admits the lead (admission.py).
        on_lead_admitted(create_deliveries)
        # Readiness reads settings too (the environments allowed, the app key): a change re-reads every plan.
        setting_changed.connect(forget_plans, dispatch_uid="servicetitan-forget-delivery-plans")
        on_lead_admitted(webhook_events.lead_created, ask=webhook_events.lead_wanted)
        on_referrer_joined(webhook_events.referrer_joined, in_bulk=webhook_events.referrers_joined)
        # The destinations the engine delivers to; it reaches each by its connector's name.
        destinations.register(NAME, ServiceTitanKind)
        destinations.register(WebhookKind.name, WebhookKind)
        destinations.register(EmailKind.name, EmailKind)
        # ServiceTitan customers: return-field writes and matching referrers who join (return_fields/).
        destinations.register(CustomerKind.name, CustomerKind)
        on_referrer_joined(match_joined, in_bulk=request_matches)
        on_qualified(return_fields.count_changed)
        on_unqualified(return_fields.count_changed)
        # What became of each booking (job, completed, paid), beside the deliveries in every worker.
        destinations.register_background("servicetitan-follower", Follower.in_worker)
