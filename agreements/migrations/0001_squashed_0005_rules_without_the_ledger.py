# agreements 0001 to 0005 in one migration that needs nothing from the
# provenance app: the rules are the layer below the ledger, and their
# migrations no longer wait for the ledger's. A database that applied 0001 to
# 0005 records this one as applied (Django's `replaces`), and 0006 takes its
# FEOC designations off the provenance organisations' foreign key; a new
# database runs this one. What changes from 0001 to 0005 (the whole schema
# the migrations end with is otherwise the same):
# - a FEOC designation names its entity by slug (`organization`, in the same
#   column `organization_id`), not by a foreign key to an organisation;
# - EntryAgreementLink, which 0001 created here and 0005 handed to the
#   provenance app, is created by the provenance app (its 0004 replacement).
# The rule data of 0002 and 0004 is loaded by the same functions, kept in
# `_domain_facts` and `_agreements_in_force`.

import agreements.models
import django.db.models.deletion
import django.utils.timezone
import django_countries.fields
import simple_history.models
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models

from agreements.migrations import _agreements_in_force, _domain_facts


class Migration(migrations.Migration):

    replaces = [
        ("agreements", "0001_initial"),
        ("agreements", "0002_load_domain_facts"),
        ("agreements", "0003_credit_periods_and_citations"),
        ("agreements", "0004_agreements_in_force_and_credit_periods"),
        ("agreements", "0005_entryagreementlink_to_provenance"),
    ]

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ApplicablePercentage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('source', models.URLField(help_text='Address of the public source of this row.', max_length=500)),
                ('notes', models.TextField(blank=True, help_text='Context, and any unconfirmed fact, named as such.')),
                ('unconfirmed', models.BooleanField(default=False, help_text='Some fact in this row is unconfirmed: see the notes.')),
                ('placed_in_service_from', models.DateField(unique=True)),
                ('placed_in_service_to', models.DateField()),
                ('critical_minerals_pct', models.DecimalField(decimal_places=2, max_digits=5)),
                ('battery_components_pct', models.DecimalField(decimal_places=2, max_digits=5)),
            ],
            options={
                'ordering': ['placed_in_service_from'],
            },
        ),
        migrations.CreateModel(
            name='CreditParameters',
            fields=[
                ('source', models.URLField(help_text='Address of the public source of this row.', max_length=500)),
                ('notes', models.TextField(blank=True, help_text='Context, and any unconfirmed fact, named as such.')),
                ('unconfirmed', models.BooleanField(default=False, help_text='Some fact in this row is unconfirmed: see the notes.')),
                ('slug', models.SlugField(default='irc-30d', max_length=63, primary_key=True, serialize=False)),
                ('critical_minerals_usd', models.DecimalField(decimal_places=2, default=Decimal('3750'), max_digits=12)),
                ('battery_components_usd', models.DecimalField(decimal_places=2, default=Decimal('3750'), max_digits=12)),
                ('requirements_from', models.DateField(help_text='First placed-in-service day (inclusive) both requirements apply.')),
                ('acquired_through', models.DateField(blank=True, help_text='Last acquisition day (inclusive) that earns the credit.', null=True)),
                ('cutoff_source', models.URLField(blank=True, help_text='Source of the end date.', max_length=500)),
                ('north_america', django_countries.fields.CountryField(max_length=746, multiple=True)),
            ],
            options={
                'verbose_name_plural': 'credit parameters',
            },
        ),
        migrations.CreateModel(
            name='CriticalMineral',
            fields=[
                ('source', models.URLField(help_text='Address of the public source of this row.', max_length=500)),
                ('notes', models.TextField(blank=True, help_text='Context, and any unconfirmed fact, named as such.')),
                ('unconfirmed', models.BooleanField(default=False, help_text='Some fact in this row is unconfirmed: see the notes.')),
                ('slug', models.SlugField(help_text='Lowercase name, e.g. "lithium".', max_length=40, primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=80)),
                ('battery_relevant', models.BooleanField(default=False)),
            ],
            options={
                'ordering': ['slug'],
            },
        ),
        migrations.CreateModel(
            name='FeocRule',
            fields=[
                ('source', models.URLField(help_text='Address of the public source of this row.', max_length=500)),
                ('notes', models.TextField(blank=True, help_text='Context, and any unconfirmed fact, named as such.')),
                ('unconfirmed', models.BooleanField(default=False, help_text='Some fact in this row is unconfirmed: see the notes.')),
                ('slug', models.SlugField(default='irc-30d-feoc', max_length=63, primary_key=True, serialize=False)),
                ('covered_nations', django_countries.fields.CountryField(max_length=746, multiple=True)),
                ('components_from', models.DateField(help_text='First placed-in-service day (inclusive) of the components restriction.')),
                ('minerals_from', models.DateField(help_text='First placed-in-service day (inclusive) of the critical minerals restriction.')),
                ('control_threshold_pct', models.DecimalField(decimal_places=2, default=Decimal('25'), max_digits=5)),
                ('impracticable_until', models.DateField(blank=True, help_text='Last placed-in-service day of the impracticable-to-trace election.', null=True)),
                ('impracticable_items', models.JSONField(blank=True, default=list, help_text='What the election may exclude from FEOC tracing.')),
            ],
            options={
                'verbose_name': 'FEOC rule',
            },
        ),
        migrations.CreateModel(
            name='TradeAgreement',
            fields=[
                ('source', models.URLField(help_text='Address of the public source of this row.', max_length=500)),
                ('notes', models.TextField(blank=True, help_text='Context, and any unconfirmed fact, named as such.')),
                ('unconfirmed', models.BooleanField(default=False, help_text='Some fact in this row is unconfirmed: see the notes.')),
                ('slug', models.SlugField(help_text='e.g. "us-au-fta".', max_length=63, primary_key=True, serialize=False)),
                ('title', models.CharField(max_length=300)),
                ('kind', models.CharField(choices=[('fta', 'Comprehensive free trade agreement'), ('cma', 'Critical minerals agreement')], max_length=8)),
                ('parties', django_countries.fields.CountryField(help_text='All parties, the United States included.', max_length=746, multiple=True)),
                ('signed', models.DateField(blank=True, null=True)),
                ('entered_into_force', models.DateField(blank=True, help_text="The agreement's own entry into force; blank if the sources give none.", null=True)),
                ('counts_from', models.DateField(help_text='First day (inclusive) the partners count as FTA countries for the credit.')),
                ('ends', models.DateField(blank=True, help_text='Last day in force (inclusive); blank: open-ended.', null=True)),
                ('covers_all_minerals', models.BooleanField(default=False, help_text='A comprehensive FTA covers every critical mineral.')),
                ('covered_minerals', models.JSONField(blank=True, default=list, help_text='Critical mineral slugs covered when not all are (before any amendment).', validators=[agreements.models.validate_mineral_slugs])),
                ('review_cadence_months', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('next_review', models.DateField(blank=True, help_text='Blank: computed from the cadence and the signature date.', null=True)),
            ],
            options={
                'ordering': ['slug'],
            },
        ),
        migrations.CreateModel(
            name='FeocDesignation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('source', models.URLField(help_text='Address of the public source of this row.', max_length=500)),
                ('notes', models.TextField(blank=True, help_text='Context, and any unconfirmed fact, named as such.')),
                ('unconfirmed', models.BooleanField(default=False, help_text='Some fact in this row is unconfirmed: see the notes.')),
                ('basis', models.CharField(choices=[('jurisdiction', 'Incorporated, headquartered or active in a covered nation'), ('control_25pct', 'A covered-nation government holds 25% or more'), ('listing', 'Listed by the US government')], max_length=16)),
                ('covered_nation', django_countries.fields.CountryField(max_length=2)),
                ('effective_from', models.DateField()),
                ('effective_to', models.DateField(blank=True, help_text='Last day (inclusive); blank: open.', null=True)),
                ('organization', models.SlugField(db_column='organization_id', help_text="The designated entity's slug: a Cairn organisation's, or any other entity's.", max_length=63)),
            ],
            options={
                'verbose_name': 'FEOC designation',
                'ordering': ['organization', 'effective_from'],
            },
        ),
        migrations.CreateModel(
            name='HistoricalApplicablePercentage',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('source', models.URLField(help_text='Address of the public source of this row.', max_length=500)),
                ('notes', models.TextField(blank=True, help_text='Context, and any unconfirmed fact, named as such.')),
                ('unconfirmed', models.BooleanField(default=False, help_text='Some fact in this row is unconfirmed: see the notes.')),
                ('placed_in_service_from', models.DateField(db_index=True)),
                ('placed_in_service_to', models.DateField()),
                ('critical_minerals_pct', models.DecimalField(decimal_places=2, max_digits=5)),
                ('battery_components_pct', models.DecimalField(decimal_places=2, max_digits=5)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical applicable percentage',
                'verbose_name_plural': 'historical applicable percentages',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalCreditParameters',
            fields=[
                ('source', models.URLField(help_text='Address of the public source of this row.', max_length=500)),
                ('notes', models.TextField(blank=True, help_text='Context, and any unconfirmed fact, named as such.')),
                ('unconfirmed', models.BooleanField(default=False, help_text='Some fact in this row is unconfirmed: see the notes.')),
                ('slug', models.SlugField(default='irc-30d', max_length=63)),
                ('critical_minerals_usd', models.DecimalField(decimal_places=2, default=Decimal('3750'), max_digits=12)),
                ('battery_components_usd', models.DecimalField(decimal_places=2, default=Decimal('3750'), max_digits=12)),
                ('requirements_from', models.DateField(help_text='First placed-in-service day (inclusive) both requirements apply.')),
                ('acquired_through', models.DateField(blank=True, help_text='Last acquisition day (inclusive) that earns the credit.', null=True)),
                ('cutoff_source', models.URLField(blank=True, help_text='Source of the end date.', max_length=500)),
                ('north_america', django_countries.fields.CountryField(max_length=746, multiple=True)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical credit parameters',
                'verbose_name_plural': 'historical credit parameters',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalCriticalMineral',
            fields=[
                ('source', models.URLField(help_text='Address of the public source of this row.', max_length=500)),
                ('notes', models.TextField(blank=True, help_text='Context, and any unconfirmed fact, named as such.')),
                ('unconfirmed', models.BooleanField(default=False, help_text='Some fact in this row is unconfirmed: see the notes.')),
                ('slug', models.SlugField(help_text='Lowercase name, e.g. "lithium".', max_length=40)),
                ('name', models.CharField(max_length=80)),
                ('battery_relevant', models.BooleanField(default=False)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical critical mineral',
                'verbose_name_plural': 'historical critical minerals',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalFeocDesignation',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('source', models.URLField(help_text='Address of the public source of this row.', max_length=500)),
                ('notes', models.TextField(blank=True, help_text='Context, and any unconfirmed fact, named as such.')),
                ('unconfirmed', models.BooleanField(default=False, help_text='Some fact in this row is unconfirmed: see the notes.')),
                ('basis', models.CharField(choices=[('jurisdiction', 'Incorporated, headquartered or active in a covered nation'), ('control_25pct', 'A covered-nation government holds 25% or more'), ('listing', 'Listed by the US government')], max_length=16)),
                ('covered_nation', django_countries.fields.CountryField(max_length=2)),
                ('effective_from', models.DateField()),
                ('effective_to', models.DateField(blank=True, help_text='Last day (inclusive); blank: open.', null=True)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('organization', models.SlugField(db_column='organization_id', help_text="The designated entity's slug: a Cairn organisation's, or any other entity's.", max_length=63)),
            ],
            options={
                'verbose_name': 'historical FEOC designation',
                'verbose_name_plural': 'historical FEOC designations',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalFeocRule',
            fields=[
                ('source', models.URLField(help_text='Address of the public source of this row.', max_length=500)),
                ('notes', models.TextField(blank=True, help_text='Context, and any unconfirmed fact, named as such.')),
                ('unconfirmed', models.BooleanField(default=False, help_text='Some fact in this row is unconfirmed: see the notes.')),
                ('slug', models.SlugField(default='irc-30d-feoc', max_length=63)),
                ('covered_nations', django_countries.fields.CountryField(max_length=746, multiple=True)),
                ('components_from', models.DateField(help_text='First placed-in-service day (inclusive) of the components restriction.')),
                ('minerals_from', models.DateField(help_text='First placed-in-service day (inclusive) of the critical minerals restriction.')),
                ('control_threshold_pct', models.DecimalField(decimal_places=2, default=Decimal('25'), max_digits=5)),
                ('impracticable_until', models.DateField(blank=True, help_text='Last placed-in-service day of the impracticable-to-trace election.', null=True)),
                ('impracticable_items', models.JSONField(blank=True, default=list, help_text='What the election may exclude from FEOC tracing.')),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical FEOC rule',
                'verbose_name_plural': 'historical FEOC rules',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalTradeAgreement',
            fields=[
                ('source', models.URLField(help_text='Address of the public source of this row.', max_length=500)),
                ('notes', models.TextField(blank=True, help_text='Context, and any unconfirmed fact, named as such.')),
                ('unconfirmed', models.BooleanField(default=False, help_text='Some fact in this row is unconfirmed: see the notes.')),
                ('slug', models.SlugField(help_text='e.g. "us-au-fta".', max_length=63)),
                ('title', models.CharField(max_length=300)),
                ('kind', models.CharField(choices=[('fta', 'Comprehensive free trade agreement'), ('cma', 'Critical minerals agreement')], max_length=8)),
                ('parties', django_countries.fields.CountryField(help_text='All parties, the United States included.', max_length=746, multiple=True)),
                ('signed', models.DateField(blank=True, null=True)),
                ('entered_into_force', models.DateField(blank=True, help_text="The agreement's own entry into force; blank if the sources give none.", null=True)),
                ('counts_from', models.DateField(help_text='First day (inclusive) the partners count as FTA countries for the credit.')),
                ('ends', models.DateField(blank=True, help_text='Last day in force (inclusive); blank: open-ended.', null=True)),
                ('covers_all_minerals', models.BooleanField(default=False, help_text='A comprehensive FTA covers every critical mineral.')),
                ('covered_minerals', models.JSONField(blank=True, default=list, help_text='Critical mineral slugs covered when not all are (before any amendment).', validators=[agreements.models.validate_mineral_slugs])),
                ('review_cadence_months', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('next_review', models.DateField(blank=True, help_text='Blank: computed from the cadence and the signature date.', null=True)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical trade agreement',
                'verbose_name_plural': 'historical trade agreements',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalAgreementEvent',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('source', models.URLField(help_text='Address of the public source of this row.', max_length=500)),
                ('notes', models.TextField(blank=True, help_text='Context, and any unconfirmed fact, named as such.')),
                ('unconfirmed', models.BooleanField(default=False, help_text='Some fact in this row is unconfirmed: see the notes.')),
                ('kind', models.CharField(choices=[('amendment', 'Amendment'), ('suspension', 'Suspension'), ('termination', 'Termination')], max_length=16)),
                ('effective_from', models.DateField()),
                ('effective_to', models.DateField(blank=True, help_text='Suspensions only: last day suspended.', null=True)),
                ('minerals_added', models.JSONField(blank=True, default=list, validators=[agreements.models.validate_mineral_slugs])),
                ('minerals_removed', models.JSONField(blank=True, default=list, validators=[agreements.models.validate_mineral_slugs])),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('agreement', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='agreements.tradeagreement')),
            ],
            options={
                'verbose_name': 'historical agreement event',
                'verbose_name_plural': 'historical agreement events',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='AgreementEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('source', models.URLField(help_text='Address of the public source of this row.', max_length=500)),
                ('notes', models.TextField(blank=True, help_text='Context, and any unconfirmed fact, named as such.')),
                ('unconfirmed', models.BooleanField(default=False, help_text='Some fact in this row is unconfirmed: see the notes.')),
                ('kind', models.CharField(choices=[('amendment', 'Amendment'), ('suspension', 'Suspension'), ('termination', 'Termination')], max_length=16)),
                ('effective_from', models.DateField()),
                ('effective_to', models.DateField(blank=True, help_text='Suspensions only: last day suspended.', null=True)),
                ('minerals_added', models.JSONField(blank=True, default=list, validators=[agreements.models.validate_mineral_slugs])),
                ('minerals_removed', models.JSONField(blank=True, default=list, validators=[agreements.models.validate_mineral_slugs])),
                ('agreement', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='events', to='agreements.tradeagreement')),
            ],
            options={
                'ordering': ['agreement_id', 'effective_from', 'id'],
            },
        ),
        migrations.RunPython(_domain_facts.load, _domain_facts.unload),
        migrations.AddField(
            model_name='creditparameters',
            name='battery_components',
            field=models.JSONField(blank=True, help_text="Component names whose value counts (the regulations' list); blank: every named component.", null=True),
        ),
        migrations.AddField(
            model_name='creditparameters',
            name='citations',
            field=models.JSONField(blank=True, default=dict, help_text='Requirement code -> statutory and regulatory citation.'),
        ),
        migrations.AddField(
            model_name='creditparameters',
            name='credit_from',
            field=models.DateField(blank=True, help_text='First placed-in-service day (inclusive) of the credit as the Inflation Reduction Act amended it.', null=True),
        ),
        migrations.AddField(
            model_name='creditparameters',
            name='regulations_source',
            field=models.URLField(blank=True, help_text='The final regulations (T.D. 9995) in the Federal Register.', max_length=500),
        ),
        migrations.AddField(
            model_name='creditparameters',
            name='value_added_test_through',
            field=models.DateField(blank=True, help_text='Last placed-in-service day (inclusive) of the 50% value-added test (T.D. 9995).', null=True),
        ),
        migrations.AddField(
            model_name='historicalcreditparameters',
            name='battery_components',
            field=models.JSONField(blank=True, help_text="Component names whose value counts (the regulations' list); blank: every named component.", null=True),
        ),
        migrations.AddField(
            model_name='historicalcreditparameters',
            name='citations',
            field=models.JSONField(blank=True, default=dict, help_text='Requirement code -> statutory and regulatory citation.'),
        ),
        migrations.AddField(
            model_name='historicalcreditparameters',
            name='credit_from',
            field=models.DateField(blank=True, help_text='First placed-in-service day (inclusive) of the credit as the Inflation Reduction Act amended it.', null=True),
        ),
        migrations.AddField(
            model_name='historicalcreditparameters',
            name='regulations_source',
            field=models.URLField(blank=True, help_text='The final regulations (T.D. 9995) in the Federal Register.', max_length=500),
        ),
        migrations.AddField(
            model_name='historicalcreditparameters',
            name='value_added_test_through',
            field=models.DateField(blank=True, help_text='Last placed-in-service day (inclusive) of the 50% value-added test (T.D. 9995).', null=True),
        ),
        migrations.RunPython(_agreements_in_force.load, _agreements_in_force.unload),
    ]
