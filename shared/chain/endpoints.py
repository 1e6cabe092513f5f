"""Where each chain's JSON-RPC endpoint is: a URL given directly (local), or an SSM SecureString (AWS).

An RPC URL usually embeds the provider's key, so it is a secret: read once per container, and every
URL this process knows is listed for the log scrubber (shared.egress).
"""

from __future__ import annotations

from shared.settings import ChainConfig, Settings
from shared.store.dynamo import client

_RPC_URLS: dict[str, str] = {}


def rpc_urls_in_use(settings: Settings) -> list[str]:
    """Every RPC URL this process knows: the ones configured directly and the ones read from SSM."""
    return [c.rpc_url for c in settings.chains if c.rpc_url] + list(_RPC_URLS.values())


def resolve_rpc_url(chain: ChainConfig) -> str:
    """The RPC URL: given directly (local), or an SSM SecureString read once per container (AWS)."""
    if chain.rpc_url:
        # remembered like the SSM ones: chains come from the App table now, and every URL must be scrubbed
        _RPC_URLS.setdefault(chain.rpc_url, chain.rpc_url)
        return chain.rpc_url
    name = chain.rpc_url_parameter
    if "/" in name and not name.startswith("/"):
        name = "/" + name  # SSM wants hierarchical names fully qualified
    if name not in _RPC_URLS:
        answer = client("ssm").get_parameter(Name=name, WithDecryption=True)
        _RPC_URLS[name] = str(answer["Parameter"]["Value"])
    return _RPC_URLS[name]
