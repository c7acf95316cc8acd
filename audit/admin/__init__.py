"""The audit app's admin pages, each registered here once.

Integrity incidents and check runs (read-only); verifications (§30D's and
§45X's) and the activity log; and the pages of three models of the layers below, which only
audit can build: the claims with their verdicts (provenance.admin.ClaimAdmin
extended), the batches with their §45X verdicts, what-if and outlook
(provenance.admin.BatchAdmin extended) and the trade agreements with their
linked entries and what-if (agreements.admin.TradeAgreementAdmin extended).
Those two apps leave the models unregistered, so nothing is swapped at
start-up.
"""

from django.contrib import admin

from agreements.models import TradeAgreement
from audit.admin.agreements import AuditedTradeAgreementAdmin
from audit.admin.incidents import IntegrityIncidentAdmin
from audit.admin.macr import AuditorBatchAdmin
from audit.admin.macr_verifications import MacrVerificationAdmin
from audit.admin.papers import ActivityAdmin
from audit.admin.verdicts import AuditorClaimAdmin, VerificationAdmin
from audit.models import Activity, IntegrityCheckRun, IntegrityIncident, MacrVerification, Verification
from provenance.models import Batch, Claim


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register(IntegrityIncident, IntegrityIncidentAdmin)


@admin.register(IntegrityCheckRun)
class IntegrityCheckRunAdmin(ReadOnlyAdmin):
    list_display = ["kind", "start", "end", "started_at", "finished_at", "problem_count"]
    list_filter = ["kind"]


admin.site.register(Claim, AuditorClaimAdmin)
admin.site.register(Batch, AuditorBatchAdmin)
admin.site.register(Verification, VerificationAdmin)
admin.site.register(MacrVerification, MacrVerificationAdmin)
admin.site.register(Activity, ActivityAdmin)
admin.site.register(TradeAgreement, AuditedTradeAgreementAdmin)
