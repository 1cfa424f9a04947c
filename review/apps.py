"""Moderator review: the queue, claims, decisions and escalations. Fed by detection.signals.submissions_scored."""
from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = "Moderator review"

    def ready(self):
        from . import receivers

        receivers.connect()
