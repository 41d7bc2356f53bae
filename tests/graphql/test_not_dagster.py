"""`--dagster-url` pointed at a GraphQL server that is not Dagster (TradeWatch's own API, the
usual mix-up of ports 3000 and 8000) is a one-line "this is not a Dagster webserver", not a
schema error."""

from __future__ import annotations

import pytest

from tradewatch.cli.dagster_remote import DagsterRemote
from tradewatch.errors import TradeWatchError


def test_a_graphql_server_that_is_not_dagster_is_named_as_such(api):
    with pytest.raises(TradeWatchError) as refused:
        DagsterRemote(api.base, timeout=10).wait_until_ready(1)
    message = str(refused.value)
    assert "is a GraphQL server but not a Dagster webserver" in message and "--dagster-url" in message
    assert "Cannot query field" not in message and "\n" not in message
