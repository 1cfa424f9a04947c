"""The verdict report: one submission's result on one page a journalist can print or attach to a story.

`build_report` gathers what the report says (the image, the verdict in words, the score with its threshold,
the model version, the evidence images, the moderator's decision and note, the audit history, the file's
SHA-256); the portal renders it as HTML (templates/detection/report.html, printable) and `render_pdf` as a
PDF with ReportLab, which installs from wheels and needs no system library.
"""
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.core.files.storage import default_storage
from django.utils import timezone

from audit.labels import event_label
from audit.models import AuditEvent

from . import presentation, storage
from .forensics.imaging import open_working_image
from .models import Evidence, Submission

# Evidence images a report shows, in this order, with what each one shows a reader.
EVIDENCE_IMAGES = [
    ("heatmap", "Heatmap", "Where the model looked: warmer areas pushed the score towards fake."),
    ("ela", "Error levels", "How much each area changes when saved again; pasted areas often stand out."),
    ("faces", "Faces", "Faces found in the image, each scored by the same model."),
]
DISCLAIMER = (
    "The detector's score is a statistical estimate from a machine-learning model, not proof. "
    "A moderator's decision, when there is one, is the final verdict."
)


@dataclass
class EvidenceImage:
    kind: str
    title: str
    caption: str
    storage_name: str


@dataclass
class HistoryEntry:
    at: datetime
    who: str
    what: str
    note: str = ""


@dataclass
class Report:
    submission: Submission
    detection: object  # the latest Detection, or None while the image is still queued
    verdict: object  # presentation.Verdict of the detection, or None
    final_words: str  # what the report's headline says
    final_source: str  # "moderator", "detector" or ""
    decision_note: str
    evidence: list = field(default_factory=list)
    history: list = field(default_factory=list)
    generated_at: datetime = field(default_factory=timezone.now)

    disclaimer = DISCLAIMER

    @property
    def uploaded_by(self):
        return _uploader(self.submission)

    @property
    def filename(self):
        # Letters, digits, dot, dash and underscore only: the name goes into a header as it is.
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(self.submission.original_name).stem)[:60].strip("-.") or "image"
        return f"verity-report-{stem}-{str(self.submission.pk)[:8]}.pdf"


def build_report(submission):
    """Everything the report of `submission` shows, read from the database (and storage for the evidence)."""
    detection = submission.latest_detection
    verdict = presentation.describe(detection) if detection is not None else None
    events = list(
        AuditEvent.objects.filter(target_type=Submission._meta.label_lower, target_id=str(submission.pk)).order_by("id")
    )
    decided = next((e for e in reversed(events) if e.action == "review.decided"), None)
    if submission.decision:
        final_words, source = submission.get_decision_display(), "moderator"
    elif verdict is not None:
        final_words, source = verdict.words, "detector"
    elif submission.status == Submission.Status.FAILED:
        final_words, source = "Could not be scored", ""
    else:
        final_words, source = "Not scored yet", ""
    return Report(
        submission=submission,
        detection=detection,
        verdict=verdict,
        final_words=final_words,
        final_source=source,
        decision_note=(decided.data.get("note") or "") if decided and submission.decision else "",
        evidence=_evidence_images(submission),
        history=[_history_entry(e) for e in events],
    )


def _evidence_images(submission):
    evidence = Evidence.objects.filter(submission=submission).first()
    if evidence is None:
        return []
    images = []
    for kind, title, caption in EVIDENCE_IMAGES:
        name = evidence.image_name(kind)
        if name and default_storage.exists(name):
            images.append(EvidenceImage(kind, title, caption, name))
    return images


def _history_entry(event):
    data = event.data or {}
    note = ""
    if event.action == "review.decided" and data.get("decision"):
        note = data["decision"].replace("_", "-")
    elif event.action == "submission.scored" and data.get("model_version"):
        note = f"model {data['model_version']}"
    elif event.action in ("review.escalated", "review.reopened", "submission.failed"):
        note = data.get("note") or data.get("reason") or ""
    return HistoryEntry(at=event.created_at, who=event.actor_label or "system", what=event_label(event), note=note)


# ---------------------------------------------------------------- PDF

PAGE_MARGIN_MM = 16
IMAGE_MAX_HEIGHT_MM = 80
EVIDENCE_WIDTH_MM = 56


def render_pdf(report):
    """The report as PDF bytes: A4, the verdict first, then the image, the evidence and the history."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font, bold, mono = _fonts()
    ink, muted, line = colors.HexColor("#1d2430"), colors.HexColor("#5b6575"), colors.HexColor("#d9dee7")
    band_colour = {"fake": "#b3261e", "real": "#1e7a3c", "uncertain": "#8a5a00"}
    style = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=13, textColor=ink)
    small = ParagraphStyle("small", parent=style, fontSize=8, leading=10.5, textColor=muted)
    label = ParagraphStyle("label", parent=small, fontName=font)
    h1 = ParagraphStyle("h1", parent=style, fontName=bold, fontSize=17, leading=21, spaceAfter=2)
    h2 = ParagraphStyle("h2", parent=style, fontName=bold, fontSize=11.5, leading=15, spaceBefore=10, spaceAfter=4)
    headline_colour = band_colour.get(_headline_band(report), "#1d2430")
    headline = ParagraphStyle(
        "headline", parent=style, fontName=bold, fontSize=15, leading=19, textColor=colors.HexColor(headline_colour)
    )
    code = ParagraphStyle("code", parent=style, fontName=mono, fontSize=8, leading=10.5)

    s = report.submission
    width = A4[0] - 2 * PAGE_MARGIN_MM * mm
    story = [
        Paragraph("Verity verdict report", h1),
        Paragraph(_esc(s.original_name), style),
        Paragraph(f"Submission {s.pk} · generated {_when(report.generated_at)}", small),
        Spacer(1, 8),
        Paragraph(_esc(report.final_words), headline),
    ]
    facts = []
    if report.final_source == "moderator":
        who = s.decided_by.get_username() if s.decided_by else "a moderator"
        facts.append(("Moderator decision", f"{s.get_decision_display()} — by {who}, {_when(s.decided_at)}"))
        if report.decision_note:
            facts.append(("Moderator's note", report.decision_note))
    if report.verdict is not None:
        v, d = report.verdict, report.detection
        facts.append(("Detector", f"{v.words} — scores {v.score} for fake or AI-generated"))
        facts.append(("Threshold", f"{v.flags_at}; {v.band_text}"))
        facts.append(("Model version", f"{d.model_version.name} ({d.model_version.architecture}), scored {_when(d.created_at)}"))
    elif s.status == Submission.Status.FAILED:
        facts.append(("Detector", f"could not score this {'clip' if s.is_video else 'image'}: {s.failure_reason}"))
    facts += [
        ("File", f"{s.original_name} — {s.content_type}, {s.width} × {s.height} px, {s.size_bytes:,} bytes"),
        ("Uploaded", f"{_when(s.created_at)} by {report.uploaded_by} via {s.get_source_display()}"),
    ]
    rows = [[Paragraph(k, label), Paragraph(_esc(v), style)] for k, v in facts]
    rows.append([Paragraph("SHA-256", label), Paragraph(s.sha256, code)])
    table = Table(rows, colWidths=[34 * mm, width - 34 * mm])
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -2), 0.4, line),
        ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3), ("LEFTPADDING", (0, 0), (-1, -1), 0),
    ]))  # fmt: skip
    story += [Spacer(1, 6), table]

    # A clip is shown by its first frame (detection/video/).
    picture = _image_flowable(Image, storage.read(s.video_info.get("poster") if s.is_video else s.file), width, IMAGE_MAX_HEIGHT_MM * mm)
    if picture is not None:
        story += [Paragraph("The clip" if s.is_video else "The image", h2), picture]

    if report.evidence:
        cells, captions = [], []
        for item in report.evidence:
            flow = _image_flowable(Image, _read_storage(item.storage_name), EVIDENCE_WIDTH_MM * mm, 42 * mm)
            cells.append(flow or Paragraph("(unreadable)", small))
            captions.append(Paragraph(f"<b>{_esc(item.title)}</b><br/>{_esc(item.caption)}", small))
        grid = Table([cells, captions], colWidths=[width / 3] * len(cells), hAlign="LEFT")
        grid.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
        story += [KeepTogether([Paragraph("Evidence", h2), grid])]

    story.append(Paragraph("History", h2))
    history = [[Paragraph(t, label) for t in ("When", "Who", "What")]]
    for entry in report.history:
        what = entry.what + (f" ({entry.note})" if entry.note else "")
        history.append([Paragraph(_when(entry.at), small), Paragraph(_esc(entry.who), small), Paragraph(_esc(what), small)])
    log = Table(history, colWidths=[38 * mm, 52 * mm, width - 90 * mm], repeatRows=1)
    log.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.3, line),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2), ("LEFTPADDING", (0, 0), (-1, -1), 0),
    ]))  # fmt: skip
    story += [log, Spacer(1, 10), Paragraph(_esc(DISCLAIMER), small)]

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(font, 7.5)
        canvas.setFillColor(muted)
        line_text = f"Verity verdict report · {s.original_name[:70]} · SHA-256 {s.sha256[:16]}…"
        canvas.drawString(PAGE_MARGIN_MM * mm, 9 * mm, line_text)
        canvas.drawRightString(A4[0] - PAGE_MARGIN_MM * mm, 9 * mm, f"page {doc.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, title=f"Verity verdict report: {s.original_name}", author="Verity",
        subject=f"Submission {s.pk}", leftMargin=PAGE_MARGIN_MM * mm, rightMargin=PAGE_MARGIN_MM * mm,
        topMargin=PAGE_MARGIN_MM * mm, bottomMargin=18 * mm,
    )  # fmt: skip
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def pdf_response(report):
    """An HTTP response that downloads the report's PDF under a name that says what it is."""
    from django.http import HttpResponse

    response = HttpResponse(render_pdf(report), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{report.filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _headline_band(report):
    if report.final_source == "moderator":
        return {"authentic": "real", "inconclusive": "uncertain"}.get(report.submission.decision, "fake")
    if report.verdict is not None:
        return "uncertain" if report.verdict.uncertain else report.verdict.label
    return ""


def _image_flowable(image_class, data, max_width, max_height):
    """A ReportLab image of `data` (any format we accept, HEIC included) scaled to fit the box, or None."""
    try:
        picture = open_working_image(data, max_side=1600).image.convert("RGB")
    except Exception:  # a damaged file still gets a report, without the picture
        return None
    encoded = io.BytesIO()
    picture.save(encoded, "JPEG", quality=90)  # re-encoded: no metadata of the original reaches the PDF
    encoded.seek(0)
    scale = min(max_width / picture.width, max_height / picture.height)
    flowable = image_class(encoded, width=picture.width * scale, height=picture.height * scale)
    flowable.hAlign = "LEFT"
    return flowable


def _read_storage(name):
    with default_storage.open(name, "rb") as fh:
        return fh.read()


_FONTS = None


def _fonts():
    """(text, bold, monospace): Bitstream Vera ships inside ReportLab and is embedded, so the PDF reads the same everywhere."""
    global _FONTS
    if _FONTS is None:
        import reportlab
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        folder = Path(reportlab.__file__).parent / "fonts"
        for name in ("Vera", "VeraBd", "VeraIt", "VeraBI"):
            pdfmetrics.registerFont(TTFont(name, str(folder / f"{name}.ttf")))
        pdfmetrics.registerFontFamily("Vera", normal="Vera", bold="VeraBd", italic="VeraIt", boldItalic="VeraBI")
        _FONTS = ("Vera", "VeraBd", "Courier")  # the hash is hex digits: the standard Courier has them all
    return _FONTS


def _esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _when(moment):
    return timezone.localtime(moment).strftime("%-d %b %Y, %H:%M %Z") if moment else "—"


def _uploader(submission):
    # uploader_label names an API key's uploads by the key, where the model offers it.
    who = getattr(submission, "uploader_label", None)
    if not who:
        who = submission.uploader.get_username() if submission.uploader_id else submission.get_source_display()
    return f"{who} ({submission.organisation})" if submission.organisation_id else who
