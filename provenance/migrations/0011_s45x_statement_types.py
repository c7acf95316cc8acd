# The §45X statements (docs/contract-45x.md): two entry types and their two
# link roles, longer than 16 characters ("supplier_certification").
# Widening a varchar rewrites nothing on PostgreSQL.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('provenance', '0010_entryagreementlink_constraint_names'),
    ]

    operations = [
        migrations.AlterField(
            model_name='batchlink',
            name='role',
            field=models.CharField(choices=[('created', 'Created'), ('consumed', 'Consumed'), ('transferred', 'Transferred'), ('certified', 'Certified'), ('claimed', 'Claimed'), ('supplier_certified', 'Supplier Certified'), ('sold', 'Sold')], max_length=24),
        ),
        migrations.AlterField(
            model_name='entry',
            name='type',
            field=models.CharField(choices=[('origin', 'Origin'), ('transform', 'Transform'), ('transfer', 'Transfer'), ('certify', 'Certify'), ('claim', 'Claim'), ('supplier_certification', 'Supplier Certification'), ('sale', 'Sale'), ('ledger', 'Ledger')], max_length=24),
        ),
    ]
