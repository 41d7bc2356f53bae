"""The rate-limit arithmetic: parsing the announced rules, the waits, the theoretical floor."""

from tradewatch.rate_limit import Rule, minimum_duration, parse_rules, parse_states, retry_after, wait_needed

REAL_HEADERS = {
    "X-Rate-Limit-Policy": "trade-exchange-request-limit",
    "X-Rate-Limit-Rules": "Ip,Account",
    "X-Rate-Limit-Ip": "5:15:60,10:90:300,30:300:1800",
    "X-Rate-Limit-Ip-State": "1:15:0,1:90:0,1:300:0",
    "x-rate-limit-account": "3:5:60",
    "x-rate-limit-account-state": "3:5:42",
}


def test_rules_and_states_are_read_per_scope_case_insensitively():
    assert parse_rules(REAL_HEADERS) == [
        Rule("Ip", 5, 15, 60), Rule("Ip", 10, 90, 300), Rule("Ip", 30, 300, 1800), Rule("Account", 3, 5, 60)]
    states = parse_states(REAL_HEADERS)
    assert [(s.scope, s.hits, s.restricted_for) for s in states][-1] == ("Account", 3, 42)


def test_responses_without_rules_give_none_and_garbage_is_skipped():
    assert parse_rules({}) == []
    assert parse_rules({"X-Rate-Limit-Rules": "Ip", "X-Rate-Limit-Ip": "oops,5:10:60"}) == [Rule("Ip", 5, 10, 60)]
    assert retry_after({"Retry-After": "12"}) == 12 and retry_after({"Retry-After": "soon"}) is None


def test_the_floor_of_21_requests_under_the_real_policy_is_180_seconds():
    rules = parse_rules(REAL_HEADERS)[:3]
    # 5 at 0 s, 5 at 15 s, then the 10-per-90 s rule: 5 at 90, 5 at 105, the 21st at 180
    assert minimum_duration(rules, 21) == 180
    assert minimum_duration(rules, 5) == 0
    assert minimum_duration(rules, 6) == 15


def test_wait_is_zero_with_room_and_until_the_oldest_counted_hit_leaves_otherwise():
    rules = [Rule("Ip", 2, 10, 60)]
    assert wait_needed(100.0, rules, {"Ip": [99.0]}, None, pad=0.5) == 0
    assert wait_needed(100.0, rules, {"Ip": [99.0, 95.0]}, None, pad=0.5) == 95.0 + 10 + 0.5 - 100.0
    # hits older than the window do not count
    assert wait_needed(100.0, rules, {"Ip": [99.0, 80.0]}, None, pad=0.5) == 0


def test_an_active_restriction_dominates():
    assert wait_needed(100.0, [Rule("Ip", 5, 10, 60)], {"Ip": []}, 160.0, pad=0) == 60.0
