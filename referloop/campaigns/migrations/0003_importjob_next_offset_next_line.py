from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_client_ip_user_agent_and_public_form_limit"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="next_offset",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="importjob",
            name="next_line",
            field=models.PositiveIntegerField(default=0),
        ),
    ]
