from django.db import migrations


class Migration(migrations.Migration):
    """An Attempt keeps what its destination said, whichever destination it is (ServiceTitan, a webhook URL)."""

    dependencies = [("integrations", "0005_delivery_due_with_id")]

    operations = [
        migrations.RenameField(model_name="attempt", old_name="servicetitan_text", new_name="response_text"),
    ]
