"""OpenAPI documentation for routes that parse their own bodies.

The prediction routes read the body themselves (to enforce size, depth and NaN limits before
validating), so FastAPI cannot see their request models. These helpers document the request
bodies, the error responses and the response headers, so ``/docs`` and the schema that
schemathesis tests against describe exactly what the service does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from propensity.service.core.errors import ErrorResponse, ValidationErrorResponse

if TYPE_CHECKING:  # the schema is built by the local server only (Lambda never imports FastAPI)
    from fastapi import FastAPI
    from pydantic.json_schema import JsonSchemaMode

REF = "#/components/schemas/{model}"

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed body: empty, not UTF-8, invalid JSON, NaN or Infinity, or nested too deeply",
    404: "No such endpoint",
    405: "Method not allowed on this endpoint",
    413: "Body larger than the endpoint's limit",
    415: "Content type is not application/json",
    422: "The body does not satisfy the request schema; each offending field is named",
    503: "The model is not loaded (GET /health says why)",
}


def response_doc(model: Any, description: str) -> dict[str, Any]:
    """A documented JSON response whose body is ``model`` (registered by ``install_openapi``).

    Referencing the schema by name, rather than handing FastAPI the model, keeps FastAPI from
    building response fields at start-up (and from importing ``pydantic.v1`` to check each
    model's generation: about 0.1 s of every cold start).
    """
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Documented error responses for ``codes``."""
    return {
        code: response_doc(
            ValidationErrorResponse if code == 422 else ErrorResponse, ERROR_DESCRIPTIONS[code]
        )
        for code in codes
    }


ERROR_MODELS: tuple[type[BaseModel], ...] = (ErrorResponse, ValidationErrorResponse)


def with_headers(
    responses: dict[int | str, dict[str, Any]], headers: dict[str, dict[str, Any]]
) -> dict[int | str, dict[str, Any]]:
    """Add documented response headers to every response in ``responses``."""
    return {code: {**spec, "headers": headers} for code, spec in responses.items()}


def json_request_body(schema_name: str, examples: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` documenting a required JSON body (a component schema) with named examples."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": REF.format(model=schema_name)},
                    "examples": {name: {"summary": name, "value": value} for name, value in examples.items()},
                }
            },
        }
    }


SchemaPatch = Callable[[dict[str, Any]], None]


def install_openapi(
    app: FastAPI, requests: Iterable[Any], responses: Iterable[Any], patches: Iterable[SchemaPatch] = ()
) -> None:
    """Generate the schema once, adding the request and response types the routes reference by name.

    ``patches`` then adjust ``components.schemas`` where a type's own schema is not the whole
    story (e.g. batch items accepted loosely but documented precisely).
    """
    from fastapi.openapi.utils import get_openapi
    from pydantic import TypeAdapter

    # Responses first: a request type a response embeds is then documented as it is validated.
    schemas: list[tuple[Any, JsonSchemaMode]] = [(t, "serialization") for t in dict.fromkeys(responses)]
    schemas += [(t, "validation") for t in dict.fromkeys(requests)]
    fixes = list(patches)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for schema_type, mode in schemas:
            generated = TypeAdapter(schema_type).json_schema(ref_template=REF, mode=mode)
            components.update(generated.pop("$defs", {}))
            components[schema_type.__name__] = generated
        for fix in fixes:
            fix(components)
        app.openapi_schema = schema
        return schema

    setattr(app, "openapi", openapi)  # noqa: B010 (FastAPI's documented way to customise the schema)
