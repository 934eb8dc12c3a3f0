"""What an audit entry says about a request (api/audit.py): a short summary of its body
with nothing secret in it, and what the action was applied to."""

import json

from trade_engine.api.audit import MAX_FIELDS, MAX_TEXT, REDACTED, is_secret, summarize, target_of


def body(value: object) -> bytes:
    return json.dumps(value).encode()


def test_scalar_fields_are_kept_as_sent():
    sent = {"user_id": "alice", "asset": "USDT", "amount": "100.5", "reference": "tx-1", "post_only": False}
    assert summarize(body(sent)) == sent


def test_fields_named_like_secrets_are_redacted_whatever_the_endpoint():
    sent = {
        "user_id": "alice",
        "secret": "s3cr3t",
        "api_secret": "x",
        "token": "eyJ...",
        "Password": "hunter2",
        "private_key": "-----BEGIN",
        "signature": "abc",
        "client_credentials": "c",
    }
    summary = summarize(body(sent))
    assert summary["user_id"] == "alice"
    assert {name for name, value in summary.items() if value == REDACTED} == set(sent) - {"user_id"}
    assert all(secret not in json.dumps(summary) for secret in ("s3cr3t", "hunter2", "eyJ", "BEGIN"))


def test_secret_words_are_recognised_in_any_case_and_position():
    assert is_secret("apiSecret")
    assert is_secret("TOKEN")
    assert is_secret("refresh_token_id")
    assert not is_secret("api_key")
    assert not is_secret("user_id")
    assert not is_secret("label")


def test_long_text_is_cut_and_nesting_only_named():
    sent = {
        "label": "x" * 500,
        "spec": {"deep": "value"},
        "permissions": ["read", "trade"],
        "many": list(range(50)),
    }
    summary = summarize(body(sent))
    assert len(summary["label"]) == MAX_TEXT
    assert summary["label"].endswith("…")
    assert summary["spec"] == "{…}"
    assert summary["permissions"] == ["read", "trade"]
    assert summary["many"] == [*range(10), "…"]


def test_a_body_with_many_fields_is_summarised_by_its_first_ones():
    summary = summarize(body({f"field{n}": n for n in range(MAX_FIELDS + 5)}))
    assert len(summary) == MAX_FIELDS + 1
    assert summary["..."] == "5 more fields"


def test_no_body_and_odd_bodies():
    assert summarize(b"") == {}
    assert summarize(b"  ") == {}
    assert summarize(b"not json") == {"body": "8 bytes, not JSON"}
    assert summarize(b"[1, 2]") == {"body": "a JSON list"}


def test_the_target_is_the_route_parameter_or_the_subject_of_the_body():
    assert target_of({"symbol": "BTC-USDT"}, {}) == "BTC-USDT"
    assert target_of({"api_key": "k1"}, {"user_id": "alice"}) == "k1"
    assert target_of({}, {"symbol": "SOL-USDT", "tick_size": "0.01"}) == "SOL-USDT"
    assert target_of({}, {"user_id": "alice", "amount": "1"}) == "alice"
    assert target_of({}, {}) is None
