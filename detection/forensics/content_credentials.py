"""Content Credentials (C2PA): is there a manifest, is it intact, who made it, did an AI generator claim it.

Named so as not to shadow the `c2pa` package. Reading never goes on the network: remote manifests and
OCSP are not fetched, so a manifest stored only at a URL is reported as such.
"""
import io
import json

from .metadata import AI_SOURCE_TYPES

FAILURE_LIMIT = 10
MAX_TITLE = 200

_context = None


def _reader_context():
    global _context
    if _context is None:
        import c2pa

        offline = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
        _context = c2pa.Context(c2pa.Settings.from_dict(offline))
    return _context


def read(data, content_type):
    """Signal: present or not, valid or not, trusted or not, the claim generator and any AI assertion."""
    import c2pa

    try:
        reader = c2pa.Reader.try_create(content_type, io.BytesIO(data), None, _reader_context())
    except c2pa.C2paError.NotSupported:
        message = f"Content Credentials cannot be read from {content_type} files"
        return {"status": "not_applicable", "present": False, "message": message}
    except c2pa.C2paError as exc:
        # Malformed JUMBF, a broken claim, an unreadable signature: something is there but cannot be trusted.
        return {
            "present": True,
            "valid": False,
            "trusted": False,
            "message": f"Content Credentials are present but damaged: {str(exc)[:200]}",
        }
    if reader is None:
        return {"present": False, "message": "No Content Credentials: the file carries no C2PA manifest"}
    with reader:
        store = json.loads(reader.json())
    return describe(store)


def describe(store):
    """The parts of a manifest store a person cares about."""
    active = store.get("manifests", {}).get(store.get("active_manifest"), {})
    failures = [
        {"code": str(s.get("code", ""))[:80], "explanation": str(s.get("explanation", ""))[:200]}
        for s in store.get("validation_status", [])[:FAILURE_LIMIT]
    ]
    # An untrusted signing certificate alone leaves the manifest "Valid": intact, but vouched for by nobody we know.
    untrusted_only = all(f["code"] == "signingCredential.untrusted" for f in failures)
    state = store.get("validation_state") or ("Valid" if untrusted_only else "Invalid")
    valid = state in ("Valid", "Trusted")
    trusted = state == "Trusted"
    generator = _claim_generator(active)
    ai = _ai_assertion(active)
    signer = active.get("signature_info") or {}
    result = {
        "present": True,
        "valid": valid,
        "trusted": trusted,
        "validation_state": state,
        "claim_generator": generator,
        "title": str(active.get("title", ""))[:MAX_TITLE],
        "signed_by": " / ".join(str(signer[k])[:100] for k in ("common_name", "issuer") if signer.get(k)),
        "ai_generated": ai,
        "failures": failures,
    }
    if not valid:
        result["message"] = (
            "Content Credentials do not match the file: it was changed after signing, or the manifest is broken"
        )
    elif not trusted:
        result["message"] = "Content Credentials are intact, but signed by a certificate that is not on the trust list"
    else:
        result["message"] = "Content Credentials are intact and signed by a trusted certificate"
    if ai:
        result["message"] += f"; {generator or 'the signer'} states the image was made by an AI generator"
    return result



def _claim_generator(manifest):
    info = manifest.get("claim_generator_info") or []
    if info and isinstance(info, list) and isinstance(info[0], dict):
        name, version = info[0].get("name", ""), info[0].get("version", "")
        return f"{name} {version}".strip()[:200]
    return str(manifest.get("claim_generator", ""))[:200]


def _ai_assertion(manifest):
    """True when an action declares a trained-algorithm source (IPTC digital source type)."""
    for assertion in manifest.get("assertions", []) or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions", []) or []:
            source = str(action.get("digitalSourceType", "")).rsplit("/", 1)[-1].lower()
            if source in AI_SOURCE_TYPES:
                return True
    return False
