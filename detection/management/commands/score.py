import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from detection import services
from detection.models import Submission
from detection.validation import InvalidImage


class Command(BaseCommand):
    help = "Score images: submit them through the same service as the portal and wait for the worker (or --inline)."

    def add_arguments(self, parser):
        parser.add_argument("images", nargs="+", help="image files")
        parser.add_argument("--inline", action="store_true", help="score in this process instead of a worker")
        parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the worker")
        parser.add_argument("--user", help="email of the uploader (default: none)")

    def handle(self, *args, images, inline, timeout, user, **options):
        uploader = None
        if user:
            uploader = get_user_model().objects.filter(email=user.lower()).first()
            if uploader is None:
                raise CommandError(f"no user with email {user}")
        submitted = []
        failures = 0
        for name in images:
            path = Path(name)
            try:
                data = path.read_bytes()
            except OSError as exc:
                self.stdout.write(f"{name}\terror\t{exc.strerror}")
                failures += 1
                continue
            try:
                submission = services.submit(
                    data=data, name=path.name, uploader=uploader, source=Submission.Source.CLI, enqueue=not inline
                )
            except InvalidImage as exc:
                self.stdout.write(f"{name}\trejected\t{exc}")
                failures += 1
                continue
            if inline:
                services.score(submission.pk)
            submitted.append((name, submission.pk))

        deadline = time.monotonic() + timeout
        pending = dict(submitted)
        results = {}
        while pending:
            for name, pk in list(pending.items()):
                submission = Submission.objects.get(pk=pk)
                if submission.is_finished:
                    results[name] = submission
                    del pending[name]
            if pending:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)

        untrained = False
        for name, _ in submitted:
            submission = results.get(name)
            if submission is None:
                self.stdout.write(f"{name}\tqueued\t-\t-")
                continue
            if submission.status == Submission.Status.FAILED:
                self.stdout.write(f"{name}\tfailed\t{submission.failure_reason}")
                failures += 1
                continue
            detection = submission.latest_detection
            flag = " (uncertain)" if detection.uncertain else ""
            untrained |= not detection.model_version.is_trained
            self.stdout.write(
                f"{name}\t{detection.label}{flag}\t{detection.probability:.4f}\t{detection.model_version}"
            )
        if untrained:
            self.stdout.write(self.style.WARNING("WARNING: scored by an UNTRAINED model; these scores mean nothing."))
        if pending:
            raise CommandError(
                f"no worker scored {len(pending)} image(s) within {timeout:.0f}s; they stay queued. "
                "Is a worker running? Start one with `make worker`, or use --inline."
            )
        if failures:
            raise CommandError(f"{failures} image(s) could not be scored")
