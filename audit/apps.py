from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self):
        from django.db.models.signals import post_migrate

        from audit import auditors

        # After every migrate (and flush): the Auditors group and its permissions.
        post_migrate.connect(auditors.on_post_migrate, sender=self, dispatch_uid="audit.auditors")
