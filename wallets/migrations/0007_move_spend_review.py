# The spend review's models (the overview's proxy, its summary, differences, reconciliation runs)
# now belong to the review app (issue 12). State only: their tables stay as they are, rows and
# all (review 0001 declares the same tables with db_table); the summary's triggers, created in
# 0002, stay here with the ledger they watch.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('wallets', '0006_audit_job_review'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='Spend'),
                migrations.DeleteModel(name='SpendSummary'),
                migrations.DeleteModel(name='Difference'),
                migrations.DeleteModel(name='ReconcileRun'),
            ],
        ),
    ]
