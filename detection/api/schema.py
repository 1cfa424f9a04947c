"""OpenAPI post-processing: error `attr` values of list items are `images.0`, `images.1`…, not `images.INDEX`."""
import re


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
