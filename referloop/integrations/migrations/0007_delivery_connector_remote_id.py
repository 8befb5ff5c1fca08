from django.db import migrations, models


class Migration(migrations.Migration):
    """Deliveries name the connector that sends them, and keep what the destination made under one name."""

    dependencies = [("integrations", "0006_attempt_response_text")]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="connector",
            field=models.CharField(default="servicetitan", max_length=20),
        ),
        migrations.RenameField(model_name="delivery", old_name="booking_id", new_name="remote_id"),
    ]
