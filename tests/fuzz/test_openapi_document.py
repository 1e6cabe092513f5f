"""The OpenAPI document the fuzzer trusts: every error the API can send is documented, as an ErrorBody."""

from __future__ import annotations

from typing import Any

from shared.api.app import build_app
from shared.api.openapi import openapi_schema, with_error_responses

ERROR_BODY = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
METHODS = ("get", "put", "post", "delete", "patch")


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_operation_documents_its_errors_as_error_bodies() -> None:
    # Given the document the API serves
    document = openapi_schema(build_app())
    operations = _operations(document)
    assert operations
    for method, path, operation in operations:
        responses = operation["responses"]
        label = f"{method.upper()} {path}"
        # Then auth, scope, validation and internal errors are documented everywhere, with the ErrorBody shape
        assert {"401", "403", "422", "500"} <= set(responses), label
        errors = {status: r for status, r in responses.items() if int(status) >= 400}
        assert all(r["content"] == ERROR_BODY for r in errors.values()), label
        # And a path parameter means a 404, a write a 409, a body a 400 and a 415
        has_path_parameter = any(p["in"] == "path" for p in operation.get("parameters", []))
        if has_path_parameter:
            assert "404" in responses, label
        if method != "get":
            assert "409" in responses, label
        if "requestBody" in operation:
            assert {"400", "415"} <= set(responses), label
    # And Powertools' own validation models are gone, since nothing refers to them any more
    assert not {"HTTPValidationError", "ValidationError"} & set(document["components"]["schemas"])
    assert "ErrorBody" in document["components"]["schemas"]


def test_a_route_declares_what_its_shape_does_not_imply_and_the_mark_is_removed() -> None:
    # Given an operation without path parameters that declares it can answer 404
    schema = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/overlap": {"get": {"responses": {"200": {"description": "ok"}}, "x-kith-errors": [404]}},
            "/segments": {"get": {"responses": {"200": {"description": "ok"}}}},
        },
    }
    # When the error responses are added
    document = with_error_responses(schema)
    # Then it documents 404 and the undeclared one does not, and the mark is not published
    overlap = document["paths"]["/overlap"]["get"]
    assert "404" in overlap["responses"] and "x-kith-errors" not in overlap
    assert "404" not in document["paths"]["/segments"]["get"]["responses"]
    # And the input is left as it was
    assert "x-kith-errors" in schema["paths"]["/overlap"]["get"]
