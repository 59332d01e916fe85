# The spend review's models move from wallets to review (issue 12): state only. Their tables
# keep their names (db_table) and their rows, so nothing is rebuilt; wallets 0007 removed the
# same models from wallets' state.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = ["spend", "spendsummary", "difference", "reconcilerun"]


def _relabel(old: str, new: str):
    # The content types move too, so permissions already granted on these models (and the admin's
    # log entries) follow them instead of being left on a label no model has.
    def relabel(apps, schema_editor):
        content_types = apps.get_model("contenttypes", "ContentType").objects.using(
            schema_editor.connection.alias
        )
        for model in MOVED:
            if not content_types.filter(app_label=new, model=model).exists():
                content_types.filter(app_label=old, model=model).update(app_label=new)

    return relabel


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('jobs', '0002_initial'),
        ('wallets', '0007_move_spend_review'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Spend',
                    fields=[
                    ],
                    options={
                        'verbose_name': 'spend overview',
                        'verbose_name_plural': 'spend overview',
                        'proxy': True,
                        'indexes': [],
                        'constraints': [],
                    },
                    bases=('wallets.ledgerentry',),
                ),

                migrations.CreateModel(
                    name='ReconcileRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('started_at', models.DateTimeField(auto_now_add=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('wallets', models.PositiveIntegerField(default=0)),
                        ('found', models.PositiveIntegerField(default=0, help_text='Differences found by this run.')),
                        ('new', models.PositiveIntegerField(default=0, help_text='Of which not seen before.')),
                        ('cleared', models.PositiveIntegerField(default=0)),
                        ('errors', models.TextField(blank=True)),
                        ('started_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'wallets_reconcilerun',
                        'verbose_name': 'reconciliation run',
                        'ordering': ['-started_at', '-id'],
                    },
                ),

                migrations.CreateModel(
                    name='Difference',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('charge_without_job', 'Charge with no job'), ('refund_without_job', 'Refund with no job'), ('double_charge', 'Job charged twice'), ('refund_not_applied', 'Refund not applied to a budget'), ('budget_mismatch', 'Budget differs from its jobs'), ('topup_not_recorded', 'Top-up Venice credited, not recorded'), ('topup_not_credited', "Top-up recorded, not in Venice's ledger"), ('amount_mismatch', 'Amount mismatch'), ('row_gone', 'Ledger row Venice no longer lists'), ('balance_mismatch', 'Ledger does not add up to the balance'), ('receipt_missing', 'Top-up receipt missing'), ('receipt_mismatch', 'Top-up receipt does not match')], max_length=30)),
                        ('key', models.CharField(max_length=200, unique=True)),
                        ('venice_id', models.CharField(blank=True, max_length=100)),
                        ('expected_usd', models.DecimalField(blank=True, decimal_places=6, max_digits=14, null=True)),
                        ('actual_usd', models.DecimalField(blank=True, decimal_places=6, max_digits=14, null=True)),
                        ('detail', models.TextField()),
                        ('opened_at', models.DateTimeField(auto_now_add=True)),
                        ('last_seen_at', models.DateTimeField()),
                        ('cleared_at', models.DateTimeField(blank=True, help_text='When reconciliation stopped finding it.', null=True)),
                        ('resolved_at', models.DateTimeField(blank=True, null=True)),
                        ('note', models.TextField(blank=True)),
                        ('budget', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='wallets.budget')),
                        ('job', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='jobs.job')),
                        ('ledger_entry', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='wallets.ledgerentry')),
                        ('resolved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('topup', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='differences', to='wallets.topup')),
                        ('wallet', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='differences', to='wallets.wallet')),
                    ],
                    options={
                        'db_table': 'wallets_difference',
                        'ordering': ['-opened_at', '-id'],
                        'indexes': [models.Index(condition=models.Q(('cleared_at__isnull', True), ('resolved_at__isnull', True)), fields=['wallet', 'kind'], name='difference_open')],
                    },
                ),

                migrations.CreateModel(
                    name='SpendSummary',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('grain', models.CharField(choices=[('D', 'Day'), ('M', 'Month'), ('T', 'Day total')], max_length=1)),
                        ('day', models.DateField()),
                        ('type', models.CharField(choices=[('TOP_UP', 'Top-up'), ('CHARGE', 'Charge'), ('REFUND', 'Refund')], max_length=10)),
                        ('user_key', models.BigIntegerField()),
                        ('model_key', models.CharField(max_length=100)),
                        ('amount_usd', models.DecimalField(decimal_places=6, max_digits=20)),
                        ('entries', models.BigIntegerField(help_text='How many ledger rows the sum covers.')),
                        ('wallet', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='wallets.wallet')),
                    ],
                    options={
                        'db_table': 'wallets_spendsummary',
                        'verbose_name_plural': 'spend summaries',
                        'constraints': [models.UniqueConstraint(fields=('grain', 'day', 'wallet', 'type', 'user_key', 'model_key'), name='one_spend_summary_row')],
                    },
                ),
            ],
        ),
        migrations.RunPython(_relabel("wallets", "review"), _relabel("review", "wallets")),
    ]
