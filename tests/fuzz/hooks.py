"""Schemathesis hooks of tests/fuzz/run.sh.

An Idempotency-Key names one request for good: the same key with another body is the API's
documented 422 idempotency_key_reused (covered by tests/e2e), which a generator that reuses
"0" for every body would report as a valid request refused. Every well-formed key the fuzzer
sends is therefore made fresh; malformed keys go out as generated, to be refused.

Except in a case that leaves a header out (the `Authorization` of its signed-in role, say):
editing the case's headers makes schemathesis revalidate it, which counts the configured token
as sent and the case as valid, so the header would go out after all. Such a case is refused
before its key matters.

Two guards are for the generator, not the API: see `_parse_one_at_a_time` and
`_free_text_from_regex`.
"""

import ast
import re
import threading
import uuid

import schemathesis
from hypothesis import strategies as st

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


# Free text: letters, marks, numbers, punctuation, symbols and spaces (mostly valid), or any
# characters, controls, format, private-use and unassigned ones among them (mostly invalid).
FREE_TEXT = st.one_of(
    st.text(st.characters(categories=("L", "M", "N", "P", "S", "Zs")), min_size=1, max_size=256),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=256),
)

# Longer than any pattern of the document but free text's.
FREE_TEXT_PATTERN_LENGTH = 10_000


def _free_text_from_regex(from_regex):
    """The document's free-text pattern (`Text`: every character but controls, separators,
    format, private-use and unassigned ones) is three classes naming most of Unicode.
    Hypothesis builds a strategy for a class one code point at a time: about 50 s for this
    pattern. It keeps what it built for the same arguments, which serves the coverage phase
    (whole matches, built once per run), but the fuzzing phase asks with a fresh alphabet each
    time, so it built the pattern again for every request body: minutes for one `POST
    /accounts`, most of CI's fuzzing time. For those searches alone, text is drawn from
    `FREE_TEXT` and kept when the regex matches it: the same rule, checked instead of built.
    schemathesis filters every value by the document's pattern again, as it always does."""

    def from_regex_or_free_text(regex, *, fullmatch=False, alphabet=None):
        source = getattr(regex, "pattern", regex)
        if not fullmatch and isinstance(source, str) and len(source) > FREE_TEXT_PATTERN_LENGTH:
            compiled = re.compile(regex) if isinstance(regex, str) else regex
            # A lambda, not `compiled.search` itself: Hypothesis turns a text strategy
            # filtered by a regex method back into that regex's strategy.
            return FREE_TEXT.filter(lambda text: compiled.search(text) is not None)
        return from_regex(regex, fullmatch=fullmatch, alphabet=alphabet)

    return from_regex_or_free_text


st.from_regex = _free_text_from_regex(st.from_regex)


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
