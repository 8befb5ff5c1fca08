from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0001_initial"),
    ]

    operations = [
        migrations.RemoveField(model_name="tenantbucket", name="tokens"),
        migrations.RenameField(model_name="tenantbucket", old_name="refilled_at", new_name="next_slot_at"),
        migrations.AddField(
            model_name="tenantbucket",
            name="pauses",
            field=models.PositiveBigIntegerField(default=0),
        ),
    ]
