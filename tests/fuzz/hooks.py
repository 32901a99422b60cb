"""Schemathesis hooks of tests/fuzz/run.sh.

An Idempotency-Key names one request for good: the same key with another body is the API's
documented 422 idempotency_key_reused (covered by tests/e2e), which a generator that reuses
"0" for every body would report as a valid request refused. Every well-formed key the fuzzer
sends is therefore made fresh; malformed keys go out as generated, to be refused.

Except in a case that leaves a header out (the `Authorization` of its signed-in role, say):
editing the case's headers makes schemathesis revalidate it, which counts the configured token
as sent and the case as valid, so the header would go out after all. Such a case is refused
before its key matters.

One guard is for the interpreter, not the API: see `_parse_one_at_a_time`.
"""

import ast
import re
import threading
import uuid

import schemathesis

WELL_FORMED = re.compile(r"^[\x20-\x7E]{1,64}$")


def _parse_one_at_a_time(parse):
    """CPython 3.11 keeps the AST builder's recursion count in state its threads share, so two
    `ast.parse` calls at once can fail with `SystemError: AST constructor recursion depth
    mismatch` (python/cpython#106905). Hypothesis parses source to describe its lambdas, in each
    of the run's workers (`workers = 2`): that failed a CI run on an operation whose requests all
    passed. Parsing under one lock takes microseconds and leaves every check as it is."""
    lock = threading.Lock()

    def parse_locked(*args, **kwargs):
        with lock:
            return parse(*args, **kwargs)

    return parse_locked


ast.parse = _parse_one_at_a_time(ast.parse)


def leaves_out_a_header(case):
    meta = case.meta
    if meta is None:
        return False
    data = meta.phase.data
    return meta.generation.mode.is_negative and getattr(data, "parameter_location", None) == "header"


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and WELL_FORMED.match(key) and not leaves_out_a_header(case):
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
