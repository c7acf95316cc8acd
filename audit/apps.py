from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self):
        from django.db.models.signals import post_migrate

        from audit import auditor_admin, auditors

        # After every migrate (and flush): the Auditors group and its permissions.
        post_migrate.connect(auditors.on_post_migrate, sender=self, dispatch_uid="audit.auditors")
        # The admin has discovered every app's admin module by now (admin is
        # first in INSTALLED_APPS): extend the ledger's Claim admin.
        auditor_admin.register()
