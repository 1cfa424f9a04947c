"""Durations in words a person reads at a glance: "45 s", "3 min 20 s", "2 h 5 min", "3 d 4 h"."""
from django import template

register = template.Library()

UNITS = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)]


@register.filter
def seconds_in_words(seconds):
    """The two largest units of a number of seconds; "—" for None."""
    if seconds is None:
        return "—"
    remaining = max(int(round(float(seconds))), 0)
    if remaining == 0:
        return "0 s"
    parts = []
    for unit, size in UNITS:
        amount, remaining = divmod(remaining, size)
        if amount or parts:
            parts.append(f"{amount} {unit}")
        if len(parts) == 2:
            break
    while parts and parts[-1].startswith("0 "):
        parts.pop()
    return " ".join(parts)
