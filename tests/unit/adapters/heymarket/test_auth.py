from __future__ import annotations

import jwt
import pytest

from heymarket_bridge.adapters.heymarket import Authenticator, Credentials, sign_jwt
from heymarket_bridge.observability import redact
from heymarket_bridge.settings import ConfigError


def test_jwt_is_signed_exactly_as_heymarket_documents() -> None:
    token = sign_jwt("my-id", "my-key", 1_795_424_400)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, "my-id||my-key", algorithms=["HS256"], options={"verify_iat": False})
    assert claims == {"iss": "my-id", "iat": 1_795_424_400}


def test_a_token_is_reused_for_under_four_minutes_then_signed_again() -> None:
    now = [1_000_000.0]
    auth = Authenticator(lambda refresh: Credentials(secret_id="id", secret_key="key"), clock=lambda: now[0])
    first = auth.header()
    now[0] += 239
    assert auth.header() == first
    now[0] += 1
    assert auth.header() != first


def test_refresh_rereads_the_secret() -> None:
    reads: list[bool] = []

    def load(refresh: bool) -> Credentials:
        reads.append(refresh)
        return Credentials(secret_id="id", secret_key=f"key{len(reads)}")

    auth = Authenticator(load, clock=lambda: 1_000_000.0)
    before = auth.header()
    auth.refresh()
    assert auth.header() != before
    assert reads == [False, True]


def test_legacy_api_key_is_sent_as_bearer() -> None:
    auth = Authenticator(lambda refresh: Credentials.from_secret({"api_key": "team-key"}))
    assert auth.header() == "Bearer team-key"


@pytest.mark.parametrize("secret", [{}, {"secret_id": "x"}, {"secret_id": "REPLACE_ME", "secret_key": "REPLACE_ME"}])
def test_unusable_heymarket_secrets_are_configuration_errors(secret: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Credentials.from_secret(secret)


def test_redact_strips_phones_and_emails_from_error_text() -> None:
    text = redact('contact 15105551234 (+1 510-555-1234) alice@example.com: "invalid"')
    assert "5551234" not in text
    assert "555-1234" not in text
    assert "alice@" not in text
    assert "invalid" in text


def test_after_an_unusable_secret_the_next_read_bypasses_the_cache() -> None:
    reads: list[bool] = []
    secrets = iter([{"secret_id": "REPLACE_ME", "secret_key": "REPLACE_ME"}, {"secret_id": "id", "secret_key": "k"}])

    def load(refresh: bool) -> Credentials:
        reads.append(refresh)
        return Credentials.from_secret(next(secrets))

    auth = Authenticator(load)
    with pytest.raises(ConfigError):
        auth.header()
    auth.header()

    assert reads == [False, True]
