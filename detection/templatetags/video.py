"""{% video_page submission detection as video %}: the clip parts of a page (detection/video/presentation.py)."""
from django import template

from detection.video import presentation

register = template.Library()


@register.simple_tag
def video_page(submission, detection):
    return presentation.page(submission, detection) if submission.is_video else None
