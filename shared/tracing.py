"""X-Ray tracing settings every handler shares.

Traces live for 30 days, outside erasure's reach and readable by anyone with X-Ray access, so they
record timings and AWS call names, never data:
  * handlers are traced with capture_response=False and capture_error=False: a response holds API
    key secrets and contact documents, and an error message can quote the input that caused it;
  * only botocore is patched (X-Ray keeps table and queue names, not keys or items): patching
    requests or httplib would record every outbound URL, and RPC, Telegram and Discord URLs carry keys.
"""

from __future__ import annotations

from typing import Final

TRACED_MODULES: Final = ("botocore",)
