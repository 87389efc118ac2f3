"""What every entry of a claims document must satisfy, whatever its paper (shared test helper).

`claims.Claim` already refuses an unknown verdict; these checks tie the verdict to the numbers
it is based on, so a test that uses them can fail.
"""

from collections.abc import Mapping
from typing import Any


def assert_claim_consistent(claim: Mapping[str, Any]) -> None:
    """A decided verdict rests on a finite statistic; a reported CI is ordered and contains
    the statistic it is the interval of."""
    if claim["verdict"] != "inconclusive":
        assert claim["statistic"] is not None, f"{claim['id']}: decided on no finite number"
    ci = claim["ci"]
    if ci is None or None in ci:
        return
    low, high = ci
    assert low <= high, f"{claim['id']}: CI {ci} is not ordered"
    statistic = claim["statistic"]
    if statistic is not None:
        slack = 1e-6 * max(1.0, abs(low), abs(high))
        assert low - slack <= statistic <= high + slack, f"{claim['id']}: {statistic} not in {ci}"
