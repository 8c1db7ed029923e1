"""The published OpenAPI documents what every operation really answers (DESIGN §3).

Litestar documents an operation's success status and, for handlers with parameters, its own
``400 {detail, status_code}`` as ``application/json``. The gateway answers every failure (401
signature, 403 scope, 404, 409, 413, 415, 422, 429, 500) as RFC 9457 ``application/problem+json``
through one handler (:mod:`gateway.errors`), so a client generated from the schema would not know
those bodies, and a schema-driven fuzzer rejects each of them as undocumented. Every operation
therefore gets a ``default`` problem+json response, and the 4xx/5xx it already lists are
rewritten to problem+json. The OAuth token endpoint is the RFC 6749 exception: its 400 and 401
carry ``{error, error_description}`` as ``application/json``.

The partner operations name the ``partnerToken`` security scheme, which Litestar never declared
(an OpenAPI whose security requirement names no scheme is invalid); it is declared here.

Operations with a ``format`` query parameter (reports, batch items, statements) answer CSV or
XLSX as well as, or instead of, JSON; their 200 lists those media types.
"""

from __future__ import annotations

from typing import Any

from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import OpenAPI

from gateway.auth.oauth import TOKEN_PATH
from gateway.errors import PROBLEM_JSON

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMAT_CONTENT: dict[str, tuple[str, dict[str, Any]]] = {
    "json": ("application/json", {}),
    "csv": ("text/csv", {"schema": {"type": "string"}}),
    "xlsx": (XLSX, {"schema": {"type": "string", "format": "binary"}}),
}
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details, with the gateway's stable machine code.",
    "required": ["type", "title", "status", "detail", "code", "request_id"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "code", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 6749 §5.2 error response.",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}


PARTNER_TOKEN_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "description": "An OAuth2 client-credentials access token from POST /v1/oauth/token; every "
    "request also carries an RFC 9421 signature (Signature-Input, Signature, Content-Digest).",
}


def _response(description: str, media_type: str, ref: str) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{ref}"}
    return {"description": description, "content": {media_type: {"schema": schema}}}


def _formats(operation: dict[str, Any], schemas: dict[str, Any]) -> list[str]:
    for parameter in operation.get("parameters", []):
        if parameter.get("name") == "format" and parameter.get("in") == "query":
            schema = parameter.get("schema", {})
            if "$ref" in schema:
                schema = schemas.get(schema["$ref"].rsplit("/", 1)[1], {})
            return [str(v) for v in schema.get("enum", [])]
    return []


def _document_formats(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    formats = _formats(operation, schemas)
    success = operation.get("responses", {}).get("200")
    if not formats or success is None:
        return
    content = success.setdefault("content", {})
    for name in formats:
        media_type, spec = _FORMAT_CONTENT[name]
        content.setdefault(media_type, spec)
    if "json" not in formats:
        content.pop("application/json", None)


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the problem+json error responses (and the CSV/XLSX answers of operations with a
    ``format`` parameter) to every operation of ``schema``, in place."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["OAuthError"] = OAUTH_ERROR_SCHEMA
    schema["components"].setdefault("securitySchemes", {})["partnerToken"] = PARTNER_TOKEN_SCHEME
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            _document_formats(operation, schemas)
            responses = operation.setdefault("responses", {})
            for status in [s for s in responses if s[0] in "45"]:
                responses[status] = _response(
                    responses[status].get("description") or "Error", PROBLEM_JSON, "Problem"
                )
            responses["default"] = _response("Error (RFC 9457)", PROBLEM_JSON, "Problem")
            if path == TOKEN_PATH:
                for status, text in (("400", "Invalid request"), ("401", "Invalid client")):
                    responses[status] = _response(text, "application/json", "OAuthError")
    return schema


class _DocumentedOpenAPI(OpenAPI):
    def to_schema(self) -> dict[str, Any]:
        return document_errors(super().to_schema())


class DocumentedOpenAPIConfig(OpenAPIConfig):
    """An :class:`OpenAPIConfig` whose schema documents the problem+json errors."""

    def to_openapi_schema(self) -> OpenAPI:
        base = super().to_openapi_schema()
        return _DocumentedOpenAPI(
            **{name: getattr(base, name) for name in base.__dataclass_fields__}
        )
