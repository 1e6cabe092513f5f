"""The API loads each resource's router when the first request for it arrives (shared.api.app.Routers):
that is right only if every route of a router lives under the router's own name."""

from __future__ import annotations

import importlib
import json
import sys

import pytest

from shared.api.app import ROUTER_OF_PATH, ROUTERS, build_app, routers_of


@pytest.mark.parametrize("name", ROUTERS)
def test_every_route_of_a_router_is_under_its_name(name: str) -> None:
    router = importlib.import_module(f"shared.api.routes.{name}").router
    rules = {key[0] for key in router._routes}
    assert rules, name
    served = {name} | {path for path, router in ROUTER_OF_PATH.items() if router == name}
    assert all(rule.strip("/").split("/")[0] in served for rule in rules), rules


def test_a_lazy_app_includes_only_the_router_a_path_needs_and_the_document_includes_all() -> None:
    app = build_app(lazy=True)
    routers = routers_of(app)
    assert routers.included == set()
    routers.include_for("/chains/1/contracts")
    routers.include_for("/nowhere/at/all")
    routers.include_for("/overlap")
    routers.include_for(None)
    assert routers.included == {"chains", "segments"}
    from shared.api.openapi import openapi_json

    routers.include_all()
    lazy_document = json.loads(openapi_json(app))
    assert lazy_document == json.loads(openapi_json(build_app()))
    assert "shared.api.routes.wallets" in sys.modules
