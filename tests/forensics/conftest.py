"""Files the forensic tests make themselves: drawn faces, EXIF with editors and GPS, signed C2PA, a conv model."""
import datetime
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from tests.conftest import TINY_INPUT_SIZE

SKIN = (225, 185, 155)


def draw_face(draw, box, skin=SKIN):
    """A cartoon face (hair, brows, eye sockets, nose, mouth) that OpenCV's frontal-face cascade recognises."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    draw.ellipse(box, fill=skin)
    draw.chord((x0 - 5, y0 - 20, x1 + 5, y0 + h * 0.5), 180, 360, fill=(50, 35, 25))
    ey = y0 + h * 0.45
    for cx in (x0 + w * 0.30, x0 + w * 0.70):
        draw.ellipse((cx - w * 0.17, ey - h * 0.08, cx + w * 0.17, ey + h * 0.06), fill=(150, 110, 90))
        draw.rectangle((cx - w * 0.16, ey - h * 0.11, cx + w * 0.16, ey - h * 0.08), fill=(60, 40, 30))
        draw.ellipse((cx - w * 0.10, ey - h * 0.035, cx + w * 0.10, ey + h * 0.035), fill=(220, 220, 220))
        draw.ellipse((cx - w * 0.05, ey - h * 0.035, cx + w * 0.05, ey + h * 0.035), fill=(50, 50, 50))
    draw.polygon([(x0 + w * 0.5, ey), (x0 + w * 0.42, y0 + h * 0.68), (x0 + w * 0.58, y0 + h * 0.68)], fill=(240, 205, 180))
    draw.ellipse((x0 + w * 0.42, y0 + h * 0.66, x0 + w * 0.58, y0 + h * 0.70), fill=(160, 115, 95))
    draw.ellipse((x0 + w * 0.32, y0 + h * 0.76, x0 + w * 0.68, y0 + h * 0.84), fill=(130, 60, 60))


def face_image(size=(480, 400), boxes=((150, 70, 330, 330),), background=(70, 90, 120), skins=None):
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    for index, box in enumerate(boxes):
        draw_face(draw, box, skin=(skins or {}).get(index, SKIN))
    return image.filter(ImageFilter.GaussianBlur(2))


def encode(image, fmt="JPEG", **kwargs):
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


# EXIF tags used below.
MAKE, MODEL, SOFTWARE, DATETIME = 0x010F, 0x0110, 0x0131, 0x0132
EXIF_IFD, GPS_IFD, DATETIME_ORIGINAL = 0x8769, 0x8825, 0x9003
# A recognisable position: its digits must never appear in anything Verity stores or shows.
GPS_LATITUDE = (48.0, 51.0, 24.37)  # 48° 51' 24.37" N, 2° 17' 40.12" E
GPS_LONGITUDE = (2.0, 17.0, 40.12)
# How the position could show up if it leaked: seconds as written, or decimal degrees.
GPS_LEAK_MARKERS = ("24.37", "40.12", "2437", "4012", "48.85", "2.29")


def exif_jpeg(image=None, *, make=None, model=None, software=None, taken=None, modified=None, gps=False, extra=None):
    """JPEG bytes with the given EXIF fields (and a GPS position near Notre-Dame when gps=True)."""
    image = image or Image.new("RGB", (96, 64), (90, 120, 160))
    exif = Image.Exif()
    for tag, value in ((MAKE, make), (MODEL, model), (SOFTWARE, software), (DATETIME, modified)):
        if value:
            exif[tag] = value
    if taken:
        exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = taken
    if gps:
        exif.get_ifd(GPS_IFD).update({1: "N", 2: GPS_LATITUDE, 3: "E", 4: GPS_LONGITUDE})
    for tag, value in (extra or {}).items():
        exif[tag] = value
    return encode(image, "JPEG", exif=exif, quality=92)


@pytest.fixture
def conv_model_path(tmp_path_factory):
    """A tiny real conv detector: a 1×1 convolution responds to red, so red regions drive P(fake) up."""
    import keras

    inputs = keras.Input((TINY_INPUT_SIZE, TINY_INPUT_SIZE, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(1, 1, name="redness")(x)
    x = keras.layers.ReLU(name="redness_relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="fake_probability")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("redness").set_weights([np.array([1.0, -1.0, -1.0]).reshape(1, 1, 3, 1), np.array([0.0])])
    model.get_layer("fake_probability").set_weights([np.array([[20.0]]), np.array([-2.0])])
    path = tmp_path_factory.mktemp("models") / "conv.keras"
    model.save(path)
    return path


@pytest.fixture
def active_conv_model(db, conv_model_path):
    from training import registry

    version = registry.register(
        name="tiny-conv", artifact=conv_model_path, architecture="TinyConv", input_size=TINY_INPUT_SIZE, is_trained=True
    )
    return registry.activate(version)


@pytest.fixture
def scored(journalist, django_capture_on_commit_callbacks):
    """Upload bytes as the journalist, score them, and run the evidence task as the worker would."""
    from detection import services

    def _scored(data, name="photo.jpg"):
        with django_capture_on_commit_callbacks(execute=True):
            submission = services.submit(data=data, name=name, uploader=journalist, enqueue=False)
        with django_capture_on_commit_callbacks(execute=True):
            services.score(submission.pk)
        submission.refresh_from_db()
        return submission

    return _scored


def make_certificates():
    """(PEM chain, PEM private key): a throwaway CA and an ES256 signing certificate made for the test."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Verity Tests")])

    now = datetime.datetime.now(datetime.timezone.utc)
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False)  # fmt: skip
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def builder(subject, issuer, public_key):
        return (
            x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )  # fmt: skip

    ca = (
        builder(name("Verity Test CA"), name("Verity Test CA"), ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **usage), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        builder(name("Verity Test Signer"), ca.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
    private = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return chain, private


AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def signed_jpeg(image=None, *, generator="Imaginary Diffusion", source_type=AI_SOURCE):
    """JPEG bytes carrying a C2PA manifest signed offline with a test certificate."""
    import c2pa

    chain, key = make_certificates()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None))
    action = {"action": "c2pa.created"}
    if source_type:
        action["digitalSourceType"] = source_type
    manifest = {
        "claim_generator_info": [{"name": generator, "version": "1.0"}],
        "title": "made.jpg",
        "format": "image/jpeg",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}],
    }
    source = io.BytesIO(encode(image or Image.new("RGB", (64, 64), (10, 120, 200))))
    out = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        builder.sign(signer, "image/jpeg", source, out)
    return out.getvalue()
