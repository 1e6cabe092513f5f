"""F3: what the API handler sends to X-Ray holds no API key secret and no contact data.

The handler runs in a child process as it would in Lambda (tracing enabled, a trace id, a daemon
address), and a UDP socket here plays the X-Ray daemon, so the test reads exactly what would leave.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import Deployed

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import importlib.util, json, sys
    spec = importlib.util.spec_from_file_location("api_handler", "functions/api/handler.py")
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)

    class Context:
        function_name = "api"; memory_limit_in_mb = 512; invoked_function_arn = "arn:aws:lambda:us-east-1:1:function:a"
        aws_request_id = "trace-test"; function_version = "$LATEST"; log_group_name = "g"; log_stream_name = "s"
        def get_remaining_time_in_millis(self): return 29000

    def call(method, path, body, scopes):
        event = {
            "resource": "/{proxy+}", "path": path, "httpMethod": method,
            "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {},
            "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
            "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method, "path": "/v1" + path,
                "stage": "v1", "requestId": "trace-test",
                "authorizer": {"principalId": "k", "key_id": "000000000000", "scopes": scopes}},
            "body": json.dumps(body), "isBase64Encoded": False,
        }
        return handler.lambda_handler(event, Context())

    created = call("POST", "/keys", {"name": "traced", "scopes": ["read"]}, "admin,pii")
    contact = call("POST", "/contacts", {"email": "traced.person@example.org",
        "wallets": ["0x00000000000000000000000000000000000000aa"]}, "write,pii")
    print(json.dumps({"key": created["statusCode"], "secret": json.loads(created["body"]).get("secret"),
        "contact": contact["statusCode"]}))
    """
)


def test_api_traces_hold_neither_key_secrets_nor_contact_data(deployed: Deployed) -> None:
    # Given an X-Ray daemon stand-in listening on UDP
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(0.5)
    port = daemon.getsockname()[1]
    env = {
        **os.environ,
        **deployed.env(),
        "LAMBDA_TASK_ROOT": str(ROOT),
        "POWERTOOLS_TRACE_DISABLED": "false",
        "POWERTOOLS_SERVICE_NAME": "api",
        "AWS_LAMBDA_FUNCTION_NAME": "api",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    }
    # When the handler creates an API key and a contact, traced as in Lambda
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["key"] == 201 and outcome["secret"], outcome
    assert outcome["contact"] == 201, outcome
    sent = []
    while True:
        try:
            sent.append(daemon.recv(65536).decode("utf-8", "replace"))
        except TimeoutError:
            break
    daemon.close()
    # Then traces were sent (the handler and its DynamoDB calls) ...
    everything = "\n".join(sent)
    assert "## lambda_handler" in everything, everything[:2000]
    assert "dynamodb" in everything.lower()
    # ... and none of them holds the new key's secret, the contact's email or an item's key
    assert outcome["secret"] not in everything
    assert "traced.person" not in everything
    assert "APIKEY#" not in everything and "CONTACT#" not in everything
