"""Binance request signatures: the published test vector and the raw-bytes rules."""

from trade_engine.binance.signing import sign, signed_payload, verify, ws_payload

# From Binance's API documentation (rest-api.md, "SIGNED endpoint examples").
SECRET = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
PAYLOAD = (
    b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    b"&recvWindow=5000&timestamp=1499827319559"
)
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_the_published_test_vector_signs_to_the_published_signature() -> None:
    assert sign(SECRET, PAYLOAD) == SIGNATURE


def test_a_signature_is_compared_case_insensitively() -> None:
    assert verify(SECRET, PAYLOAD, SIGNATURE.upper())
    assert not verify(SECRET, PAYLOAD + b"0", SIGNATURE)


def test_query_string_and_body_are_concatenated_without_separator() -> None:
    # Binance's "mixed query string and request body" example.
    query = b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
    body = b"quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    mixed = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
    payload, sent = signed_payload(query, body + b"&signature=" + mixed.encode())
    assert payload == query + body
    assert sent == mixed
    assert verify(SECRET, payload, mixed)


def test_the_signature_parameter_is_left_out_of_the_payload_wherever_it_is() -> None:
    payload, sent = signed_payload(PAYLOAD + b"&signature=" + SIGNATURE.encode(), b"")
    assert (payload, sent) == (PAYLOAD, SIGNATURE)
    _, repeated = signed_payload(PAYLOAD + b"&signature=a&signature=b", b"")
    assert repeated is None


def test_the_payload_is_the_raw_bytes_not_a_re_encoding() -> None:
    raw = b"symbol=BTCUSDT&newClientOrderId=a%2Db&timestamp=1"
    payload, _ = signed_payload(raw + b"&signature=00", b"")
    assert payload == raw  # not decoded to "a-b", not reordered


def test_websocket_api_params_are_signed_sorted_by_name() -> None:
    params = {"timestamp": 1499827319559, "apiKey": "k", "recvWindow": 5000, "signature": "x"}
    assert ws_payload(params) == b"apiKey=k&recvWindow=5000&timestamp=1499827319559"


def test_a_signature_that_is_not_ascii_does_not_verify() -> None:
    # hmac.compare_digest raises on such text; the WebSocket API passes it on as sent.
    assert not verify(b"secret", b"payload", "é" * 64)
    assert verify(b"secret", b"payload", sign(b"secret", b"payload").upper())
