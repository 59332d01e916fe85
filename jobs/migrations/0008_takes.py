"""Takes: the jobs of one request share a group (two nullable columns, no table rebuild)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0007_keepers"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="take_group",
            field=models.UUIDField(blank=True, db_index=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="job",
            name="take_number",
            field=models.PositiveSmallIntegerField(blank=True, editable=False, null=True),
        ),
    ]
