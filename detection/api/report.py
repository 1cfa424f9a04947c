"""The verdict report as PDF for API keys: what the portal's "Download PDF" gives a journalist."""
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema

from .. import report
from .views import PartnerAPIView


class SubmissionReportView(PartnerAPIView):
    required_scopes = {"GET": "read"}

    @extend_schema(
        operation_id="submission_report_pdf",
        summary="A submission's verdict report, as PDF",
        description=(
            "One printable page (or more, with a long history): the image, the verdict in words, the score with "
            "the model's threshold, the model version, the evidence images, the moderator's decision and note, "
            "the audit history and the file's SHA-256."
        ),
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
    )
    def get(self, request, pk):
        # Another organisation's submission is "not found", as everywhere in the API.
        submission = get_object_or_404(self.organisation_submissions(), pk=pk)
        return report.pdf_response(report.build_report(submission))
