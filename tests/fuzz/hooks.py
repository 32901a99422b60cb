"""Schemathesis hooks of tests/fuzz/run.sh.

An Idempotency-Key names one request for good: the same key with another body is the API's
documented 422 idempotency_key_reused (covered by tests/e2e), which a generator that reuses
"0" for every body would report as a valid request refused. Every well-formed key the fuzzer
sends is therefore made fresh; malformed keys go out as generated, to be refused.
"""

import re
import uuid

import schemathesis

WELL_FORMED = re.compile(r"^[\x20-\x7E]{1,64}$")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and WELL_FORMED.match(key):
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
