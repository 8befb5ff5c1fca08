from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_tenantbucket_paced"),
    ]

    operations = [
        migrations.AddField(
            model_name="tenantbucket",
            name="owner",
            field=models.CharField(blank=True, max_length=80),
        ),
        migrations.AddField(
            model_name="tenantbucket",
            name="owned_until",
            field=models.FloatField(default=0),
        ),
    ]
