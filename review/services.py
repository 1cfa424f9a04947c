"""Review's business operations: route scored images into the queue, claim, release, decide, escalate, reopen.

Every state change is written to the audit trail (target: the submission, so one object's history reads
in one place) and mirrored onto the Submission's review fields, which the portal and the API show.
Row locks come first and audit.record() last in each transaction: the audit chain's lock is held until
commit, so taking it last keeps lock order the same everywhere.
"""
import csv
import shutil
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

import audit
from detection import storage
from detection.models import Decision, Detection, ReviewState, Submission

from .models import ReviewDecision, ReviewItem
from .signals import verdict_changed

# "no_face" (off by default): images without a face, which the face-trained detector cannot judge.
ROUTES = {"fake", "uncertain", "requested", "no_face"}
# Decisions that say the image is fake, for the training export and the agreement figures.
FAKE_DECISIONS = (Decision.MANIPULATED, Decision.AI_GENERATED)
WAITING_STATES = (ReviewItem.State.OPEN, ReviewItem.State.ESCALATED, ReviewItem.State.DISPUTED)


class ReviewError(Exception):
    """The operation is not possible in the item's present state; the message says why, for a person."""


class ClaimedByAnother(ReviewError, PermissionDenied):
    """Someone else holds the claim on this item."""


# ---------------------------------------------------------------- who may do what


def can_review(user):
    return user.is_authenticated and user.has_perm("review.review_items")


def can_resolve(user):
    """Admins decide disputed items and reopen decisions."""
    return user.is_authenticated and user.has_perm("review.resolve_reviews")


# ---------------------------------------------------------------- routing


def routes():
    """The routing rules in force (settings.VERITY_REVIEW_ROUTES), checked."""
    chosen = set(settings.VERITY_REVIEW_ROUTES)
    unknown = chosen - ROUTES
    if unknown:
        raise ImproperlyConfigured(f"VERITY_REVIEW_ROUTES: unknown rule(s) {sorted(unknown)}; use {sorted(ROUTES)}")
    return chosen


def routing_reasons(submission, detection):
    """Why this scored submission needs a person, under the configured rules (empty: it does not)."""
    rules = routes()
    reasons = []
    if "fake" in rules and detection.label == Detection.Label.FAKE:
        reasons.append(ReviewItem.Reason.FAKE.value)
    if "uncertain" in rules and detection.uncertain:
        reasons.append(ReviewItem.Reason.UNCERTAIN.value)
    if "requested" in rules and submission.review_requested:
        reasons.append(ReviewItem.Reason.REQUESTED.value)
    if "no_face" in rules and detection.label == Detection.Label.NO_FACE:
        reasons.append(ReviewItem.Reason.NO_FACE.value)
    return reasons


def route_scored(scored):
    """Called with the (submission, detection) pairs of a scored batch: open review items where the rules say so.

    A submission scored again (a new model version) keeps its item; an item still waiting points at
    the newest detection. A decided item is left alone: only an admin reopens a decision. New items are
    made in one insert; returns {submission id: ReviewItem} for the submissions that have one.
    """
    existing = {item.submission_id: item for item in ReviewItem.objects.filter(submission__in=[s for s, _ in scored])}
    items, to_open = {}, []
    for submission, detection in scored:
        reasons = routing_reasons(submission, detection)
        item = existing.get(submission.pk)
        if item is not None:
            if not item.is_closed:
                merged = sorted(set(item.reasons) | set(reasons))
                ReviewItem.objects.filter(pk=item.pk).update(detection=detection, reasons=merged, updated_at=timezone.now())
            items[submission.pk] = item
        elif reasons:
            to_open.append((submission, detection, reasons))
    if len(to_open) == 1:
        items[to_open[0][0].pk] = open_item(*to_open[0])
    elif to_open:
        items.update(_open_items(to_open))
    return items


def _open_items(to_open):
    """open_item for many submissions at once; one at a time if another process opened one of them meanwhile."""
    try:
        with transaction.atomic():
            created = ReviewItem.objects.bulk_create(
                [ReviewItem(submission=s, detection=d, reasons=list(r)) for s, d, r in to_open]
            )
    except IntegrityError:
        return {s.pk: open_item(s, d, r) for s, d, r in to_open}
    Submission.objects.filter(pk__in=[s.pk for s, _, _ in to_open]).update(
        review_state=ReviewState.OPEN, updated_at=timezone.now()
    )
    for item, (submission, _, reasons) in zip(created, to_open):
        audit.record(None, "review.opened", submission, item=item.pk, reasons=list(reasons))
    return {item.submission_id: item for item in created}


def open_item(submission, detection, reasons, actor=None):
    """Put a submission in the queue (idempotent: an existing item is returned as it is)."""
    with transaction.atomic():
        item, created = ReviewItem.objects.get_or_create(
            submission=submission, defaults={"detection": detection, "reasons": list(reasons)}
        )
        if created:
            Submission.objects.filter(pk=submission.pk).update(review_state=ReviewState.OPEN, updated_at=timezone.now())
            audit.record(actor, "review.opened", submission, item=item.pk, reasons=list(reasons))
    return item


# ---------------------------------------------------------------- the queue


def waiting_items():
    return ReviewItem.objects.filter(state__in=WAITING_STATES)


def in_queue_order(qs, disputed_first=False):
    """Uncertain before confident, then the organisation's priority (higher first), then oldest first."""
    qs = qs.annotate(org_priority=Coalesce("submission__organisation__priority", Value(0)))
    order = [F("detection__uncertain").desc(nulls_last=True), F("org_priority").desc(), "submission__created_at", "pk"]
    if disputed_first:
        qs = qs.annotate(
            dispute_rank=Case(When(state=ReviewItem.State.DISPUTED, then=0), default=1, output_field=IntegerField())
        )
        order.insert(0, "dispute_rank")
    return qs.order_by(*order)


def claimable_by(user, now=None):
    """Items `user` may claim now: waiting, unclaimed or with a lapsed claim, not already judged by them."""
    now = now or timezone.now()
    states = [ReviewItem.State.OPEN, ReviewItem.State.ESCALATED]
    if can_resolve(user):
        states.append(ReviewItem.State.DISPUTED)
    judged = ReviewDecision.objects.filter(item=OuterRef("pk"), round=OuterRef("round"), moderator=user)
    return (
        ReviewItem.objects.filter(state__in=states)
        .filter(Q(claimed_by__isnull=True) | Q(claim_expires_at__lte=now))
        .exclude(Exists(judged))
    )


def current_claim(user, now=None):
    """The item `user` holds a live claim on, if any."""
    now = now or timezone.now()
    return (
        waiting_items().filter(claimed_by=user, claim_expires_at__gt=now).order_by("claimed_at").first()
    )


def claim_next(user, filters=None):
    """Claim the top item of the queue for `user` and return it (None when nothing is left).

    One transaction; the row is read with SELECT ... FOR UPDATE SKIP LOCKED, so two moderators asking at
    the same moment get different items. A moderator who already holds a live claim gets that item back.
    """
    _require_reviewer(user)
    now = timezone.now()
    with transaction.atomic():
        held = current_claim(user, now)
        if held is not None:
            return held
        qs = claimable_by(user, now)
        if filters is not None:
            qs = filters(qs)
        item = (
            in_queue_order(qs, disputed_first=can_resolve(user))
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
        if item is None:
            return None
        return _take(item, user, now)


def claim(item_id, user):
    """Claim one particular item for `user`."""
    _require_reviewer(user)
    now = timezone.now()
    with transaction.atomic():
        item = _locked(item_id)
        if item.is_claimed_by(user, now):
            return item
        if item.claim_is_live(now):
            raise ClaimedByAnother(f"{item.claimed_by} is reviewing this item")
        if not claimable_by(user, now).filter(pk=item.pk).exists():
            raise ReviewError(_why_not_claimable(item, user))
        return _take(item, user, now)


def release(item_id, user):
    """Give a claimed item back to the queue."""
    with transaction.atomic():
        item = _locked(item_id)
        _require_claim(item, user)
        _clear_claim(item)
        item.save(update_fields=["claimed_by", "claimed_at", "claim_expires_at", "updated_at"])
        audit.record(user, "review.released", item.submission, item=item.pk)
    return item


def expire_claims(now=None):
    """Return lapsed claims to the queue (claim_next also takes over lapsed claims); returns how many."""
    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        lapsed = (
            waiting_items()
            .filter(claimed_by__isnull=False, claim_expires_at__lte=now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("claimed_by", "submission")
        )
        for item in lapsed:
            holder = item.claimed_by
            _clear_claim(item)
            item.save(update_fields=["claimed_by", "claimed_at", "claim_expires_at", "updated_at"])
            audit.record(None, "review.claim_expired", item.submission, item=item.pk, moderator=str(holder or ""))
            expired += 1
    return expired


def claim_duration():
    return timezone.timedelta(minutes=settings.VERITY_REVIEW_CLAIM_MINUTES)


# ---------------------------------------------------------------- decisions


def decide(item_id, user, decision, note=""):
    """Record `user`'s decision on an item they hold.

    Open item: the decision is final. Escalated item: a second opinion; if it disagrees with the first,
    the item goes to an admin (disputed), otherwise it is final. Disputed item: an admin's ruling, final.
    """
    decision, note = _checked_decision(decision, note)
    with transaction.atomic():
        item = _locked(item_id)
        _require_claim(item, user)
        State = ReviewItem.State
        if item.state == State.OPEN:
            kind = ReviewDecision.Kind.DECISION
        elif item.state == State.ESCALATED:
            kind = ReviewDecision.Kind.SECOND_OPINION
        elif item.state == State.DISPUTED:
            if not can_resolve(user):
                raise PermissionDenied("only an admin decides a disputed item")
            kind = ReviewDecision.Kind.RULING
        else:
            raise ReviewError("this item is already decided; an admin can reopen it")
        ReviewDecision.objects.create(item=item, round=item.round, kind=kind, moderator=user, decision=decision, note=note)

        first = (
            item.current_decisions().filter(kind=ReviewDecision.Kind.ESCALATION).exclude(decision="").first()
            if kind == ReviewDecision.Kind.SECOND_OPINION
            else None
        )
        if first is not None and first.decision != decision:
            item.state = State.DISPUTED
            _clear_claim(item)
            item.save(update_fields=["state", "claimed_by", "claimed_at", "claim_expires_at", "updated_at"])
            audit.record(
                user, "review.disputed", item.submission, item=item.pk,
                first=first.decision, first_by=str(first.moderator), second=decision, note=note,
            )  # fmt: skip
            return item
        return _finalise(item, user, decision, note, kind)


def escalate(item_id, user, note, decision=""):
    """Ask a second moderator: the item goes back to the queue for anyone but `user`.

    `decision` is `user`'s own opinion, if they have one; a second opinion that differs sends the item to an admin.
    """
    note = (note or "").strip()
    if not note:
        raise ReviewError("say why you want a second opinion")
    if decision and decision not in Decision.values:
        raise ReviewError("choose one of the listed decisions")
    with transaction.atomic():
        item = _locked(item_id)
        _require_claim(item, user)
        if item.state != ReviewItem.State.OPEN:
            raise ReviewError("only an item waiting for its first decision can be escalated")
        ReviewDecision.objects.create(
            item=item, round=item.round, kind=ReviewDecision.Kind.ESCALATION, moderator=user, decision=decision, note=note
        )
        item.state = ReviewItem.State.ESCALATED
        _clear_claim(item)
        item.save(update_fields=["state", "claimed_by", "claimed_at", "claim_expires_at", "updated_at"])
        audit.record(user, "review.escalated", item.submission, item=item.pk, opinion=decision, note=note)
    return item


def reopen(item_id, user, note):
    """An admin reopens a decision: it stays in the history, the item goes back to the queue."""
    if not can_resolve(user):
        raise PermissionDenied("only an admin can reopen a decision")
    note = (note or "").strip()
    if not note:
        raise ReviewError("say why the decision is reopened")
    with transaction.atomic():
        item = _locked(item_id)
        if item.state != ReviewItem.State.DECIDED:
            raise ReviewError("only a decided item can be reopened")
        submission = Submission.objects.select_for_update().get(pk=item.submission_id)
        previous = submission.final_verdict
        previous_decision, previous_by = item.decision, str(item.decided_by or "")
        item.state = ReviewItem.State.OPEN
        item.round += 1
        item.decision, item.decided_by, item.decided_at = "", None, None
        _clear_claim(item)
        item.save()
        submission.decision, submission.decided_by, submission.decided_at = "", None, None
        submission.review_state = ReviewState.OPEN
        submission.save(update_fields=["decision", "decided_by", "decided_at", "review_state", "updated_at"])
        audit.record(
            user, "review.reopened", submission, item=item.pk, round=item.round,
            previous_decision=previous_decision, previous_decided_by=previous_by, note=note,
        )  # fmt: skip
        _announce_verdict(submission, previous, user)
    return item


# ---------------------------------------------------------------- what the decisions teach


def agreement_by_model_version():
    """Per model version: decided items, how many agreed with the detector, disagreed, were inconclusive."""
    agreed = Q(decision=Decision.AUTHENTIC, detection__label=Detection.Label.REAL) | Q(
        decision__in=FAKE_DECISIONS, detection__label=Detection.Label.FAKE
    )
    rows = (
        ReviewItem.objects.filter(state=ReviewItem.State.DECIDED, detection__isnull=False)
        .values(model_version=F("detection__model_version__name"))
        .annotate(
            decided=Count("pk"),
            agreed=Count("pk", filter=agreed),
            inconclusive=Count("pk", filter=Q(decision=Decision.INCONCLUSIVE)),
        )
        .order_by("model_version")
    )
    result = []
    for row in rows:
        judged = row["decided"] - row["inconclusive"]
        row["disagreed"] = judged - row["agreed"]
        row["agreement"] = row["agreed"] / judged if judged else None
        result.append(row)
    return result


def export_dataset(out_dir, actor=None):
    """Write decided images as a training dataset: out/real/, out/fake/ and MANIFEST.csv.

    Authentic is real; manipulated and AI-generated are fake; inconclusive is left out. Images shared by
    several submissions are written once; bytes that moderators labelled both ways are left out.
    Returns {"real": n, "fake": n, "conflicting": n}.
    """
    out = Path(out_dir)
    decided = (
        Submission.objects.filter(review_state=ReviewState.DECIDED)
        .exclude(decision__in=["", Decision.INCONCLUSIVE])
        .select_related("decided_by", "organisation")
        .order_by("decided_at")
    )
    by_sha = {}
    for s in decided:
        by_sha.setdefault(s.sha256, []).append(s)
    rows, counts = [], {"real": 0, "fake": 0, "conflicting": 0}
    for sha, subs in by_sha.items():
        classes = {"fake" if s.decision in FAKE_DECISIONS else "real" for s in subs}
        if len(classes) > 1:
            counts["conflicting"] += 1
            continue
        cls, latest = classes.pop(), subs[-1]
        rel = f"{cls}/{sha}{Path(latest.file).suffix}"
        (out / cls).mkdir(parents=True, exist_ok=True)
        with storage.open_file(latest.file) as src, open(out / rel, "wb") as dst:
            shutil.copyfileobj(src, dst)
        detection = latest.latest_detection
        rows.append(
            {
                "path": rel,
                "source": latest.decision,
                "submission": str(latest.pk),
                "decision": latest.decision,
                "decided_by": str(latest.decided_by or ""),
                "decided_at": latest.decided_at.isoformat() if latest.decided_at else "",
                "organisation": latest.organisation.slug if latest.organisation else "",
                "detector_label": detection.label if detection else "",
                "detector_probability": f"{detection.probability:.6f}" if detection else "",
                "model_version": detection.model_version.name if detection else "",
            }
        )
        counts[cls] += 1
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "MANIFEST.csv", "w", newline="") as fh:
        fields = ["path", "source", "submission", "decision", "decided_by", "decided_at", "organisation",
                  "detector_label", "detector_probability", "model_version"]  # fmt: skip
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    audit.record(actor, "review.dataset_exported", None, path=str(out), **counts)
    return counts


# ---------------------------------------------------------------- helpers


def _require_reviewer(user):
    if not can_review(user):
        raise PermissionDenied("only moderators and admins review images")


def _locked(item_id):
    try:
        return ReviewItem.objects.select_for_update().select_related("submission").get(pk=item_id)
    except ReviewItem.DoesNotExist:
        raise ReviewError("there is no such review item") from None


def _require_claim(item, user):
    """`user` must hold the item's claim (a lapsed claim still counts until someone else takes the item)."""
    _require_reviewer(user)
    if item.claimed_by_id == user.pk and item.state in WAITING_STATES:
        return
    if item.claim_is_live():
        raise ClaimedByAnother(f"{item.claimed_by} is reviewing this item; you cannot act on their claim")
    raise ReviewError("claim this item first")


def _why_not_claimable(item, user):
    if item.is_closed:
        return "this item is already decided"
    if item.state == ReviewItem.State.DISPUTED:
        return "a disputed item is decided by an admin"
    return "you have already given your opinion on this item; a second moderator must decide it"


def _take(item, user, now):
    lapsed_holder = item.claimed_by if item.claimed_by_id and item.claimed_by_id != user.pk else None
    item.claimed_by, item.claimed_at, item.claim_expires_at = user, now, now + claim_duration()
    item.save(update_fields=["claimed_by", "claimed_at", "claim_expires_at", "updated_at"])
    if lapsed_holder is not None:
        audit.record(None, "review.claim_expired", item.submission, item=item.pk, moderator=str(lapsed_holder))
    audit.record(user, "review.claimed", item.submission, item=item.pk, expires_at=item.claim_expires_at.isoformat())
    return item


def _clear_claim(item):
    item.claimed_by, item.claimed_at, item.claim_expires_at = None, None, None


def _checked_decision(decision, note):
    if decision not in Decision.values:
        raise ReviewError("choose one of the listed decisions")
    note = (note or "").strip()
    if decision != Decision.AUTHENTIC and not note:
        raise ReviewError("a note is required for any decision but authentic")
    return decision, note


def _finalise(item, user, decision, note, kind):
    now = timezone.now()
    submission = Submission.objects.select_for_update().get(pk=item.submission_id)
    previous = submission.final_verdict
    item.state = ReviewItem.State.DECIDED
    item.decision, item.decided_by, item.decided_at = decision, user, now
    _clear_claim(item)
    item.save()
    submission.decision, submission.decided_by, submission.decided_at = decision, user, now
    submission.review_state = ReviewState.DECIDED
    submission.save(update_fields=["decision", "decided_by", "decided_at", "review_state", "updated_at"])
    detection = item.detection
    audit.record(
        user, "review.decided", submission, item=item.pk, decision=decision, kind=kind, note=note,
        detector_label=detection.label if detection else None,
        model_version=detection.model_version.name if detection else None,
    )  # fmt: skip
    _announce_verdict(submission, previous, user)
    return item


def _announce_verdict(submission, previous, actor):
    """Send verdict_changed once the transaction commits, so that listeners read the committed state."""
    current = submission.final_verdict
    transaction.on_commit(
        lambda: verdict_changed.send(
            sender=ReviewItem, submission=submission, previous=previous, current=current, actor=actor
        )
    )
