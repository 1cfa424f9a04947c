"""A clip's evidence: Content Credentials read from the MP4 itself, container metadata without the location."""
import io

from detection import services
from detection.forensics import run
from tests.forensics.conftest import AI_SOURCE, make_certificates
from tests.video import clips


def signed_mp4(data, generator="Imaginary Video"):
    """`data` (an MP4) carrying a C2PA manifest signed offline with the forensics tests' certificate."""
    import c2pa

    chain, key = make_certificates()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None))
    manifest = {
        "claim_generator_info": [{"name": generator, "version": "1.0"}],
        "title": "made.mp4",
        "format": "video/mp4",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": AI_SOURCE}]}}],
    }
    out = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        builder.sign(signer, "video/mp4", io.BytesIO(data), out)
    return out.getvalue()


def test_content_credentials_carried_by_a_clip_are_read(active_model):
    submission = services.submit(data=signed_mp4(clips.red_clip(count=10)), name="made.mp4", enqueue=False)
    services.score(submission.pk)
    evidence = run.compute(submission.pk)
    credentials = evidence.content_credentials
    assert credentials["present"] is True and credentials["valid"] is True
    assert credentials["claim_generator"] == "Imaginary Video 1.0" and credentials["ai_generated"] is True


def test_a_clip_without_credentials_says_so_and_its_metadata_keeps_no_location(active_model):
    data = clips.red_clip(count=10, metadata={"location": "+48.8584+002.2945/", "com.android.manufacturer": "Pixelphone"})
    submission = services.submit(data=data, name="phone.mp4", enqueue=False)
    services.score(submission.pk)
    evidence = run.compute(submission.pk)
    assert evidence.content_credentials["present"] is False
    assert evidence.metadata["location_present"] is True and "48.85" not in str(evidence.metadata)
    assert "error-level analysis applies to still JPEG images" in evidence.error_levels["message"]
