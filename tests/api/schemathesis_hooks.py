"""Loaded by `schemathesis run` (SCHEMATHESIS_HOOKS) in tests/api/test_contract_live.py.

A well-formed upload may still be refused (400) for what no schema can say: the bytes are not an image,
the URL's host is private or does not answer. Such refusals are allowed (see the run's configuration),
but only with those codes: a 400 for a request the contract calls valid with any other code is a
mismatch between the contract and the API.
"""
import schemathesis

UPLOAD_OPERATIONS = {"POST /api/v1/submissions/", "POST /api/v1/submissions/batch/"}
# What the image or the URL turned out to be, not the shape of the request. `empty`: a file of no bytes.
CONTENT_CODES = {"invalid_image", "url_not_allowed", "url_fetch_failed", "url_too_large", "empty"}


@schemathesis.check
def a_valid_upload_is_refused_only_for_its_content(ctx, response, case):
    meta = case.meta
    if case.operation.label not in UPLOAD_OPERATIONS or response.status_code != 400:
        return None
    if meta is None or not meta.generation.mode.is_positive:
        return None
    codes = {(error.get("code"), error.get("attr")) for error in response.json().get("errors", [])}
    unexpected = sorted(f"{code} ({attr})" for code, attr in codes if code not in CONTENT_CODES)
    if unexpected:
        raise AssertionError(f"a request the contract calls valid was refused for its shape: {', '.join(unexpected)}")
    return None
