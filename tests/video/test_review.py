"""A clip in the review queue: the moderator sees the player and a frame strip, and decides for the whole clip."""
import re

from django.urls import reverse

from detection import services
from review import services as review_services
from tests.video import clips


def test_a_fake_clip_goes_to_review_with_a_frame_strip_and_one_decision_for_the_clip(client, journalist, moderator, active_model):
    submission = services.submit(data=clips.red_clip(count=30), name="clip.mp4", uploader=journalist, enqueue=False)
    services.score(submission.pk)
    submission.refresh_from_db()
    item = submission.review_item  # routed: the detector called it fake
    review_services.claim(item.pk, moderator)
    client.force_login(moderator)
    page = client.get(reverse("review:item", args=[item.pk])).content.decode()
    assert '<video id="video-player"' in page and 'id="frame-strip"' in page
    strip = re.findall(r'<img src="(/[^"]+/frames/\d+\.jpg)"', page)
    assert len(strip) == 6  # 3 s sampled twice a second
    assert client.get(strip[0])["Content-Type"] == "image/jpeg"  # moderators see every organisation's frames
    assert "Your decision on the whole clip" in page
    assert "This clip in the audit trail" in page and "This image" not in page
    text = " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<script.*?</script>", "", page)).split())
    assert not re.search(r"\bimages?\b", text, re.IGNORECASE)  # no word of the page calls the clip an image

    response = client.post(reverse("review:decide", args=[item.pk]), {"decision": "manipulated", "note": "face swap", "then": "queue"})
    assert response.status_code == 302
    submission.refresh_from_db()
    assert submission.decision == "manipulated" and submission.final_verdict == ("manipulated", "moderator")
