"""OpenAPI generation: what drf-spectacular cannot say by itself about the partner API.

- Error `attr` values of list items are `images.0`, `images.1`…, not `images.INDEX`.
- Request bodies given per media type (JSON: a URL; multipart: a file or a URL) still document the error
  codes of the serializer that validates them.
- The alternatives of a request body admit no other fields (the API refuses unknown fields).
- `callback_url` has one plain schema (empty allowed), not drf-spectacular's "pattern, or empty" oneOf.
- Links: from a created submission to its result, from a created key to its revocation (schemathesis's
  stateful phase and Swagger UI follow them).
"""
import re

from drf_spectacular.generators import SchemaGenerator
from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsAutoSchema
from drf_standardized_errors.openapi_utils import get_flat_serializer_fields, get_serializer_fields_with_error_codes

# Request components whose fields are all the API accepts (see serializers.refuse_unknown_fields).
CLOSED_REQUEST_COMPONENTS = ("SubmissionByFileRequest", "SubmissionByUrlRequest", "BatchByFilesRequest", "BatchByUrlsRequest")

# Multipart bodies with alternatives (PolymorphicProxySerializer in views.py).
UPLOAD_REQUEST_COMPONENTS = ("SubmissionUploadRequest", "BatchUploadRequest")
UPLOAD_OPERATIONS = ("submissions_create", "submissions_batch_create")

LINKS = {
    ("submissions_create", "201"): {
        "GetSubmissionResult": {
            "operationId": "submissions_retrieve",
            "parameters": {"id": "$response.body#/id"},
            "description": "The result of the submission just made (poll until `status` is `scored` or `failed`).",
        },
    },
    ("submissions_batch_create", "201"): {
        "GetFirstAcceptedResult": {
            "operationId": "submissions_retrieve",
            "parameters": {"id": "$response.body#/accepted/0/id"},
            "description": "The result of the first accepted image (each item of `accepted` has its own `id`).",
        },
    },
    ("keys_create", "201"): {
        "RevokeKey": {
            "operationId": "keys_revoke",
            "parameters": {"id": "$response.body#/id"},
            "description": "Revoke the key just made.",
        },
    },
}


class AutoSchema(StandardizedErrorsAutoSchema):
    """For API-key views: the scope each operation needs, in its description; and for views whose request body
    is given per media type, error codes from `validation_serializer_class`."""

    def get_operation(self, *args, **kwargs):
        # Here rather than in get_description, which @extend_schema(description=...) replaces.
        operation = super().get_operation(*args, **kwargs)
        scope = getattr(self.view, "required_scopes", {}).get(self.method)
        if operation is not None and scope:
            needs = f"Needs an API key with the `{scope}` scope (otherwise `403 permission_denied`)."
            description = operation.get("description")
            operation["description"] = f"{description}\n\n{needs}" if description else needs
        return operation

    def _determine_fields_with_error_codes(self):
        serializer_class = getattr(self.view, "validation_serializer_class", None)
        if self.method == "POST" and serializer_class is not None:
            return get_serializer_fields_with_error_codes(get_flat_serializer_fields(serializer_class()))
        return super()._determine_fields_with_error_codes()


def describe_list_item_error_attrs(result, generator, request, public):
    """drf-standardized-errors names list-item errors `field.INDEX`; the API sends `field.<n>`. Say so."""
    for schema in result.get("components", {}).get("schemas", {}).values():
        attr = schema.get("properties", {}).get("attr", {})
        names = attr.get("enum") or []
        if names and all(".INDEX" in name for name in names):
            alternatives = "|".join(re.escape(name).replace(r"INDEX", "[0-9]+") for name in names)
            attr.pop("enum")
            attr["pattern"] = f"^({alternatives})$"
            attr["description"] = "the list field and the position of the item, e.g. " + names[0].replace("INDEX", "0")
        mapping = schema.get("discriminator", {}).get("mapping", {})
        if any(".INDEX" in key for key in mapping):
            # A discriminator needs exact values; the attr patterns above keep the oneOf unambiguous.
            schema.pop("discriminator")
    return result


def close_request_bodies(result, generator, request, public):
    """Each way of sending a submission lists every field it may have: `{"image": …, "url": …}` is neither.

    A multipart body is then "any of" its closed alternatives, with their fields also listed at the top: tools
    (schemathesis, code generators) find the file fields there, and a body with both `image` and `url`
    matches no alternative. (`anyOf` of closed alternatives is as exact as `oneOf` here.)
    """
    schemas = result.get("components", {}).get("schemas", {})
    for name in CLOSED_REQUEST_COMPONENTS:
        if name in schemas:
            schemas[name]["additionalProperties"] = False
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if operation.get("operationId") in UPLOAD_OPERATIONS:
                operation["requestBody"]["required"] = True  # an upload without a body is refused
    for name in UPLOAD_REQUEST_COMPONENTS:
        schema = schemas.get(name)
        if not schema or "oneOf" not in schema:
            continue
        alternatives = schema.pop("oneOf")
        properties = {}
        for ref in alternatives:
            properties.update(schemas[ref["$ref"].rsplit("/", 1)[1]]["properties"])
        schema.update(type="object", properties=properties, anyOf=alternatives)
    return result


def one_plain_callback_url_schema(result, generator, request, public):
    """`callback_url`: a string without NUL, empty allowed. drf-spectacular says "pattern, or empty" as a oneOf,
    which an empty string matches twice (a oneOf then refuses it, though the API takes it)."""
    for schema in result.get("components", {}).get("schemas", {}).values():
        prop = schema.get("properties", {}).get("callback_url")
        if prop and "oneOf" in prop:
            alternatives = prop.pop("oneOf")
            prop.update(next(a for a in alternatives if a.get("maxLength") != 0))
    return result


def add_links(result, generator, request, public):
    """OpenAPI links from responses to the operations their ids lead to."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                links = LINKS.get((operation.get("operationId"), status))
                if links:
                    response["links"] = links
    return result


class CachedSchemaGenerator(SchemaGenerator):
    """The generator of `/api/schema/`: each API version's schema is generated once per process.

    The schema is served to anyone and is the same for everyone (its view authenticates no one), and it changes only
    with a deploy. Generated on every request, as drf-spectacular does, it cost 0.13 s of CPU a request here, which an
    anonymous client could make the web processes spend as often as it liked; cached, 0.03 s (rendering the YAML).
    The cached document is what drf-spectacular generated (the contract test keeps it equal to openapi.yaml); content
    negotiation (YAML, or JSON with ?format=json) still happens per request.
    """

    _generated = {}  # (API version, public) -> the schema

    def get_schema(self, request=None, public=False):
        key = (self.api_version, public)
        if key not in self._generated:
            self._generated[key] = super().get_schema(request=request, public=public)
        return self._generated[key]
