"""Outages answer 503 with Retry-After, never a 500 with a stack trace.

While the database restarts (or the connection to it breaks), every request that needs it raises
django.db.OperationalError or InterfaceError; while the file store is out of reach, reading an image raises
StorageUnavailable or botocore's errors. That is an outage, not a defect: the client should send the same
request again shortly. The partner API converts it in its exception handler (`ApiExceptionHandler`, set in
settings.DRF_STANDARDIZED_ERRORS); everything else reaches Django's 500 handler (`server_error`, config/urls.py),
which tells the two apart.
"""
import sys

from django import db
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults
from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import status
from rest_framework.exceptions import APIException

from detection.storage import OBJECT_STORE_ERRORS, StorageUnavailable

DATABASE_ERRORS = (db.OperationalError, db.InterfaceError)
# The file store out of reach (S3 down, the bucket refusing): also an outage, also worth trying again.
OUTAGES = DATABASE_ERRORS + (StorageUnavailable, *OBJECT_STORE_ERRORS)
RETRY_AFTER_SECONDS = 10


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Verity is briefly unavailable. Send the same request again after Retry-After seconds."
    default_code = "service_unavailable"
    wait = RETRY_AFTER_SECONDS  # drf-standardized-errors sends it as Retry-After


class ApiExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc):
        if isinstance(exc, OUTAGES):
            return ServiceUnavailable()
        return super().convert_known_exceptions(exc)


def server_error(request):
    """Django's handler500: an outage is a 503 with Retry-After (JSON under /api/), anything else a 500."""
    if not isinstance(sys.exc_info()[1], OUTAGES):
        return defaults.server_error(request)
    if request.path.startswith("/api/"):
        body = {
            "type": "server_error",
            "errors": [{"code": ServiceUnavailable.default_code, "detail": ServiceUnavailable.default_detail, "attr": None}],
        }
        response = JsonResponse(body, status=503)
    else:
        # Rendered without a request context: the context processors would need the database that is down.
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
