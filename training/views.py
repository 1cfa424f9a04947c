"""Staff pages: start and follow training runs, read reports, compare versions, promote one."""
import mimetypes
from functools import wraps
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from . import services
from .forms import TrainingRunForm
from .models import ModelVersion, TrainingRun


def staff_required(view):
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("training pages are for staff")
        return view(request, *args, **kwargs)

    return wrapper


@staff_required
@require_safe
def index(request):
    versions = ModelVersion.objects.all()
    return render(request, "training/index.html", {
        "rows": services.compare_versions(versions),
        "runs": TrainingRun.objects.all()[:20],
    })


# The comparison, one row per figure and one column per version: a dozen versions still fit a laptop screen,
# where one column per figure made the page twice as wide as the screen. (key, label, floatformat argument, higher is better)
COMPARE_FIGURES = [
    ("architecture", "Architecture", None, None),
    ("input_size", "Input (px)", None, None),
    ("params", "Parameters", "0g", None),
    ("epochs_trained", "Epochs", "0", None),
    ("training_seconds", "Training time (s)", "0g", None),
    ("train_images_per_second", "Training speed (img/s)", "1g", True),
    ("inference_images_per_second", "Inference speed (img/s)", "1g", True),
    ("valid_auc", "Validation AUC", "4", True),
    ("test_auc", "Test AUC", "4", True),
    ("test_accuracy", "Test accuracy", "4", True),
    ("test_f1", "Test F1", "4", True),
    ("test_mcc", "Test MCC", "4", True),
    ("test_eer", "Test EER", "4", False),
]


@staff_required
@require_safe
def compare(request):
    versions = ModelVersion.objects.filter(is_trained=True)
    columns = services.compare_versions(versions)
    for column in columns:
        column["architecture"], column["input_size"] = column["version"].architecture, column["version"].input_size
    sources = sorted({s for c in columns for s in c["sources"]})
    figures = [(label, decimals, better, [c.get(key) for c in columns]) for key, label, decimals, better in COMPARE_FIGURES]
    figures += [(f"AUC {s}", "4", True, [c["sources"].get(s) for c in columns]) for s in sources]
    figures.append(("AUC lost at JPEG 75", "4", False, [c.get("jpeg_75_auc_drop") for c in columns]))
    rows = [
        {"label": label, "decimals": decimals, "cells": _cells(values, better)}
        for label, decimals, better, values in figures
    ]
    return render(request, "training/compare.html", {"columns": columns, "rows": rows})


def _cells(values, higher_is_better):
    """(value, is_best) per version; the best of two or more numbers is marked when the direction is known."""
    numbers = [v for v in values if isinstance(v, (int, float))]
    best = None
    if higher_is_better is not None and len(numbers) > 1 and len(set(numbers)) > 1:
        best = max(numbers) if higher_is_better else min(numbers)
    return [(v, best is not None and v == best) for v in values]


@staff_required
@require_http_methods(["GET", "HEAD", "POST"])
def run_new(request):
    form = TrainingRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        run = services.start_training(form.to_config(), actor=request.user)
        messages.success(request, f"Training run {run.name} queued.")
        return redirect("training:run-detail", pk=run.pk)
    return render(request, "training/run_new.html", {"form": form})


@staff_required
@require_safe
def run_detail(request, pk):
    run = get_object_or_404(TrainingRun, pk=pk)
    return render(request, "training/run_detail.html", {"run": run})


@staff_required
@require_safe
def run_progress(request, pk):
    run = get_object_or_404(TrainingRun, pk=pk)
    return JsonResponse({
        "status": run.status, "epoch": run.epoch, "total_epochs": run.total_epochs,
        "percent": run.progress_percent, "finished": run.is_finished, "message": run.message,
    })


@staff_required
@require_POST
def run_cancel(request, pk):
    run = get_object_or_404(TrainingRun, pk=pk)
    if services.cancel_training(run, actor=request.user):
        messages.success(request, f"Asked {run.name} to stop; it keeps its best checkpoint.")
    else:
        messages.error(request, f"{run.name} has already finished.")
    return redirect("training:run-detail", pk=run.pk)


@staff_required
@require_safe
def version_detail(request, pk):
    version = get_object_or_404(ModelVersion, pk=pk)
    report_files = []
    if version.report and Path(version.report).exists():
        report_files = sorted(p.name for p in Path(version.report).parent.iterdir() if p.is_file())
    return render(request, "training/version_detail.html", {
        "version": version, "m": version.metrics or {}, "report_files": report_files,
        "test_rows": _source_rows(version.metrics, "test"), "valid_rows": _source_rows(version.metrics, "valid"),
        "robustness_rows": _robustness_rows(version.metrics),
    })


@staff_required
@require_safe
def version_report_file(request, pk, name):
    """A file of the version's report folder (the HTML report, its plots, metrics.json)."""
    version = get_object_or_404(ModelVersion, pk=pk)
    if not version.report:
        raise Http404("this version has no report")
    folder = Path(version.report).parent.resolve()
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        raise Http404("no such report file")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path.open("rb"), content_type=content_type)


@staff_required
@require_POST
def version_promote(request, pk):
    version = get_object_or_404(ModelVersion, pk=pk)
    try:
        services.promote(version, actor=request.user)
    except services.CannotPromote as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{version.name} is now the active model; workers use it from their next image.")
    return redirect("training:version-detail", pk=version.pk)


def _source_rows(metrics, split):
    return [{"name": k, **v} for k, v in (metrics or {}).get(split, {}).items()]


def _robustness_rows(metrics):
    rows = []
    for name, groups in (metrics or {}).get("robustness", {}).items():
        for source, values in groups.items():
            rows.append({"perturbation": name, "name": source, **values})
    return rows
