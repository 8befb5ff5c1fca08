import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import referloop.integrations.webhooks.models


class Migration(migrations.Migration):
    """Webhook endpoints and events; a delivery goes to an integration and a lead, or to an endpoint and an event."""

    dependencies = [
        ("accounts", "0001_initial"),
        ("campaigns", "0001_initial"),
        ("integrations", "0007_delivery_connector_remote_id"),
    ]

    operations = [
        migrations.AlterField(
            model_name="delivery",
            name="integration",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="deliveries",
                to="integrations.integration",
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="lead",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="deliveries", to="campaigns.lead"
            ),
        ),
        migrations.CreateModel(
            name="WebhookEndpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("url", models.URLField(max_length=1000)),
                ("description", models.CharField(blank=True, max_length=200)),
                ("events", models.JSONField(blank=True, default=list)),
                ("ordered", models.BooleanField(default=False)),
                ("enabled", models.BooleanField(default=True)),
                ("disabled_reason", models.CharField(blank=True, max_length=500)),
                ("disabled_at", models.DateTimeField(blank=True, null=True)),
                ("secret_encrypted", models.TextField(editable=False)),
                ("previous_secret_encrypted", models.TextField(blank=True, editable=False)),
                ("previous_secret_expires_at", models.DateTimeField(blank=True, null=True)),
                ("failing_since", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="webhook_endpoints",
                        to="accounts.account",
                    ),
                ),
            ],
            options={
                "ordering": ["created_at", "pk"],
            },
        ),
        migrations.AddField(
            model_name="delivery",
            name="endpoint",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="deliveries",
                to="integrations.webhookendpoint",
            ),
        ),
        migrations.CreateModel(
            name="WebhookEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "event_id",
                    models.CharField(
                        default=referloop.integrations.webhooks.models.new_event_id,
                        editable=False,
                        max_length=40,
                        unique=True,
                    ),
                ),
                ("type", models.CharField(max_length=60)),
                ("payload", models.JSONField(default=dict)),
                ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="webhook_events",
                        to="accounts.account",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
            },
        ),
        migrations.AddField(
            model_name="delivery",
            name="event",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="deliveries",
                to="integrations.webhookevent",
            ),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.UniqueConstraint(fields=("endpoint", "event"), name="one_delivery_per_endpoint_event"),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("endpoint__isnull", True),
                        ("event__isnull", True),
                        ("integration__isnull", False),
                        ("lead__isnull", False),
                    ),
                    models.Q(
                        ("endpoint__isnull", False),
                        ("event__isnull", False),
                        ("integration__isnull", True),
                        ("lead__isnull", True),
                    ),
                    _connector="OR",
                ),
                name="delivery_has_one_destination",
            ),
        ),
        migrations.AddIndex(
            model_name="webhookendpoint",
            index=models.Index(fields=["account", "enabled"], name="webhook_endpoint_by_account"),
        ),
    ]
