# WorkerLease moves from jobs to ops (the leases live in ops.leases): state only. Its table,
# jobs_workerlease, was created by jobs/0001 and keeps its name and rows.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="WorkerLease",
                    fields=[
                        (
                            "name",
                            models.CharField(max_length=50, primary_key=True, serialize=False),
                        ),
                        ("holder", models.CharField(blank=True, max_length=100)),
                        ("until", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={"db_table": "jobs_workerlease"},
                ),
            ],
            database_operations=[],
        ),
    ]
