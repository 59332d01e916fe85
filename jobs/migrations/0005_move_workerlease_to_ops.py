# WorkerLease now belongs to ops (ops/0002): drop it from jobs' state only, so that its table,
# jobs_workerlease, is neither dropped nor rebuilt.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0004_job_venice_unreachable_since"),
        ("ops", "0002_workerlease"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="WorkerLease")],
            database_operations=[],
        ),
    ]
