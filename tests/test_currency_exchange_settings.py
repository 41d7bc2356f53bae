"""The TRADEWATCH_CX_* settings: defaults, the authenticated host, and one-line errors."""

from __future__ import annotations

import pytest

from tradewatch.errors import ConfigError
from tradewatch.settings import AUTHENTICATED_CX_URL, PUBLIC_CX_URL, load_settings


def test_defaults_read_the_public_copy_for_pc_with_the_polite_ceiling():
    s = load_settings({}, None)
    assert (s.cx_url, s.cx_realms, s.cx_client_id, s.cx_client_secret) == (PUBLIC_CX_URL, ("pc",), None, None)
    assert (s.cx_max_in_flight, s.cx_max_per_minute) == (4, 60)
    assert s.cx_token_url == "https://www.pathofexile.com/oauth/token"


def test_a_client_id_and_secret_switch_to_the_authenticated_host_unless_the_url_says_otherwise():
    env = {"TRADEWATCH_CX_CLIENT_ID": "me", "TRADEWATCH_CX_CLIENT_SECRET": "s3cret-value"}
    s = load_settings(env, None)
    assert s.cx_url == AUTHENTICATED_CX_URL and s.cx_client_secret.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(s) and "s3cret-value" not in str(s.cx_client_secret)
    s = load_settings({**env, "TRADEWATCH_CX_URL": "http://127.0.0.1:8090/api/currency-exchange/"}, None)
    assert s.cx_url == "http://127.0.0.1:8090/api/currency-exchange"
    assert load_settings({"TRADEWATCH_CX_REALMS": "PC, poe2,pc"}, None).cx_realms == ("pc", "poe2")


@pytest.mark.parametrize("env, says", [
    ({"TRADEWATCH_CX_CLIENT_ID": "me"}, "go together"),
    ({"TRADEWATCH_CX_CLIENT_SECRET": "s3cret-value"}, "go together"),
    ({"TRADEWATCH_CX_URL": "ftp://example.com"}, "not an http(s) URL"),
    ({"TRADEWATCH_CX_REALMS": "pc,ps5"}, "ps5"),
    ({"TRADEWATCH_CX_MAX_PER_MINUTE": "0"}, "at least 1"),
    ({"TRADEWATCH_CX_MAX_IN_FLIGHT": "many"}, "not a int"),
])
def test_bad_values_are_one_line_errors_that_never_repeat_the_secret(env, says):
    with pytest.raises(ConfigError) as error:
        load_settings(env, None)
    message = str(error.value)
    assert says in message and "\n" not in message and "s3cret-value" not in message
