"""The limiter's reading of its hit log in PostgreSQL gives the wait the pure rules give for the same hits."""

from __future__ import annotations

import random

from tradewatch.rate_limit import ALL_SCOPES, PostgresRateLimiter, Rule, wait_for_limiting_hits, wait_needed

NOW = 10_000.0
PAD = 0.5
RULES = [Rule("Ip", 5, 15.0, 60.0), Rule("Ip", 10, 90.0, 300.0), Rule("Account", 3, 10.0, 60.0),
         Rule(ALL_SCOPES, 40, 60.0, 0.0), Rule("Ip", 1, 1.0, 0.0)]


def _hits_by_scope(rows: list[tuple[str, float]]) -> dict[str, list[float]]:
    """The hits counting against each scope, newest first (a plain hit counts against every scope)."""
    out: dict[str, list[float]] = {}
    for scope in {r.scope for r in RULES}:
        wanted = (ALL_SCOPES,) if scope == ALL_SCOPES else (ALL_SCOPES, scope)
        out[scope] = sorted((at for s, at in rows if s in wanted), reverse=True)
    return out


def test_the_limiting_hits_found_in_postgresql_give_the_same_wait_as_the_whole_log(pool):
    limiter = PostgresRateLimiter(pool, key="equivalence", pad=PAD)
    rng = random.Random(23)
    for case in range(40):
        rows = [(rng.choice([ALL_SCOPES, ALL_SCOPES, "Ip", "Account"]), NOW - rng.uniform(0, 120))
                for _ in range(rng.randint(0, 60))]
        rows += [(ALL_SCOPES, NOW - 14.5)] * (case % 3)  # equal times: ties
        with pool.connection() as conn, conn.transaction():
            conn.execute("DELETE FROM warehouse.rate_limit_hits")
            with conn.cursor().copy("COPY warehouse.rate_limit_hits (limiter_key, scope, at) FROM STDIN") as copy:
                for scope, at in rows:
                    copy.write_row(("equivalence", scope, at))
                copy.write_row(("another limiter", ALL_SCOPES, NOW - 1))  # never counted here
            found = limiter._limiting_hits(conn, NOW, RULES)
        expected_waits = wait_needed(NOW, RULES, _hits_by_scope(rows), None, PAD)
        assert len(found) == len(RULES)
        for rule, hit in zip(RULES, found):
            counted = sorted((at for s, at in rows if s in (ALL_SCOPES, rule.scope) and at > NOW - rule.period - PAD),
                             reverse=True)
            assert hit == (counted[rule.max_hits - 1] if len(counted) >= rule.max_hits else None), (case, rule)
        assert wait_for_limiting_hits(NOW, RULES, found, None, PAD) == expected_waits
    with pool.connection() as conn:
        assert limiter._limiting_hits(conn, NOW, []) == []
