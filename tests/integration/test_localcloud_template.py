"""The real template.yaml: every function, mapping, schedule and authorizer is discovered from it."""

from __future__ import annotations

import pytest

from infra.localcloud.functions import Resolver, discover_functions
from infra.localcloud.gateway import discover_apis
from infra.localcloud.runner import discover_event_sources
from infra.localcloud.template import ROOT, Template, deploy_data_resources
from shared.api.app import PUBLIC_PATHS

pytestmark = pytest.mark.integration


def test_the_real_template_is_discovered_completely(moto_endpoint: str, template: Template) -> None:
    # Given the real template deployed into moto
    physical = deploy_data_resources(template, moto_endpoint, stack_name="lc-real-template")
    resolver = Resolver(template, physical, moto_endpoint, stack_name="lc-real-template")

    # Then every serverless function is found, with its folder, handler and resolved environment
    functions = discover_functions(template, resolver)
    expected = {k for k, v in template.sam["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert set(functions) == expected
    assert {"IngestFunction", "BackfillFunction", "ProfilesFunction", "AuthorizerFunction", "ApiFunction"} <= expected
    for logical, spec in functions.items():
        code_uri = template.sam["Resources"][logical]["Properties"]["CodeUri"]
        assert spec.code_dir == (ROOT / code_uri).resolve()
        assert spec.handler == template.sam["Resources"][logical]["Properties"]["Handler"]
        env = spec.environment
        assert env["EVENTS_TABLE"] == physical["EventsTable"]
        assert env["APP_TABLE"] == physical["AppTable"]
        assert env["BACKFILL_QUEUE_URL"].startswith(f"{moto_endpoint}/123456789012/")
        assert env["EVENT_BUS_NAME"] == "lc-real-template-kith"
        # chains live in the App table now: no function carries them in its environment
        assert "KITH_CHAINS" not in env and "IDEMPOTENCY_TABLE" not in env
        assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    # only ingest reads the seed, from the SSM parameter moto created with the template's default
    seed = functions["IngestFunction"].environment["KITH_CHAINS_SEED_PARAMETER"]
    assert seed == physical["ChainsSeedParameter"] == "/lc-real-template/kith/chains-seed"
    seeded = [f for f, spec in functions.items() if "KITH_CHAINS_SEED_PARAMETER" in spec.environment]
    assert seeded == ["IngestFunction"]
    assert functions["IngestFunction"].timeout == 50
    assert functions["IngestFunction"].reserved_concurrency is None
    assert functions["ApiFunction"].memory == 512

    # and every event source, with the settings the template gives it
    sources = discover_event_sources(template, resolver)
    all_rules = {k: v for k, v in template.cfn["Resources"].items() if v["Type"] == "AWS::Events::Rule"}
    rules = [k for k, v in all_rules.items() if "ScheduleExpression" in v["Properties"]]
    # rules that route bus events to queues are not played by the runner: moto's EventBridge delivers them
    assert {k for k in all_rules if k not in rules} == {"SegmentEnteredRule", "LendingBandRule"} <= set(physical)
    mappings = [k for k, v in template.cfn["Resources"].items() if v["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert sorted(s.logical_id for s in sources.schedules) == sorted(rules)
    assert sorted([*(s.logical_id for s in sources.streams), *(q.logical_id for q in sources.queues)]) == sorted(
        mappings
    )
    ingest = next(s for s in sources.schedules if s.function == "IngestFunction")
    assert ingest.expression == "rate(1 minute)" and ingest.interval == 60
    profiles = next(s for s in sources.streams if s.function == "ProfilesFunction")
    assert profiles.table == "EventsTable" and "/stream/" in profiles.stream_arn
    declared = template.sam["Resources"]["ProfilesFunction"]["Properties"]["Events"]["Chain"]["Properties"]
    assert profiles.batch_size == declared["BatchSize"]
    assert profiles.batching_window == declared["MaximumBatchingWindowInSeconds"]
    assert profiles.bisect_on_error and profiles.report_batch_item_failures
    assert profiles.maximum_retry_attempts == declared["MaximumRetryAttempts"]
    assert profiles.maximum_record_age == declared["MaximumRecordAgeInSeconds"]
    assert profiles.on_failure_url is not None and profiles.on_failure_url.endswith(
        physical["ProfilesFailureQueue"].rsplit("/", 1)[1]
    )
    assert profiles.filters == ({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "EVT#"}]}}}},)
    backfill = next(q for q in sources.queues if q.function == "BackfillFunction")
    assert backfill.queue == "BackfillQueue" and backfill.batch_size == 1
    assert backfill.report_batch_item_failures and backfill.maximum_concurrency == 4

    # and the API: one proxy route to the API function behind the REQUEST authorizer, and its description
    # open to a browser (no authorizer) on exactly the paths the application serves without a key
    (api,) = discover_apis(template, resolver)
    assert api.stage == "v1"
    public = {(r.resource, r.method) for r in api.routes if r.authorizer is None}
    assert public == {(path, "GET") for path in PUBLIC_PATHS}
    assert all(r.function == "ApiFunction" for r in api.routes)
    (route,) = [r for r in api.routes if r.authorizer is not None]
    assert (route.resource, route.method, route.function) == ("/{proxy+}", "ANY", "ApiFunction")
    assert route.authorizer is not None
    assert route.authorizer.function == "AuthorizerFunction" and route.authorizer.kind == "request"
    assert route.authorizer.identity_headers == ("Authorization",) and route.authorizer.ttl == 60
