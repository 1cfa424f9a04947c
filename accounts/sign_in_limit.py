"""How failed sign-ins are limited: django-axes counts them (config/settings.py, AXES_*); these say whose they are
and what a locked-out person is shown.

Only failures count, per email address and IP address together, and a successful sign-in clears them: people
who sign in many times a day (and the browser tests) are never locked out, someone guessing one account's
password from one place is.
"""
from axes.helpers import get_cool_off
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render
from django.utils import timezone


def attempted_email(request, credentials=None):
    """The email address a sign-in was for, as accounts are keyed: `Lois@Planet.test ` and `lois@planet.test` are one."""
    source = credentials if credentials else getattr(request, "POST", {})
    email = (source.get("username") or "").strip().lower()
    return email or None


def locked_out_response(request, original_response=None, credentials=None):
    """The sign-in page again, with 429 and a Retry-After, saying in words when the next try may be made.

    Each try during the wait starts it again (axes' default), so the wait runs from now.
    """
    wait = get_cool_off(request)
    email = attempted_email(request, credentials) or ""
    context = {
        "form": AuthenticationForm(request, initial={"username": email}),
        "next": request.POST.get("next", ""),
        "locked_email": email,
        "locked_until": timezone.now() + wait,
        "lockout_minutes": max(1, round(wait.total_seconds() / 60)),
    }
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(int(wait.total_seconds()))
    return response
