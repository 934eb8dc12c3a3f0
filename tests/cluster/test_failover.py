"""Failover: the active core killed with SIGKILL at each named crash point (set by
TRADE_ENGINE_FAILPOINT; the test checks it died there) and twice at random instants,
all under load through two gateways, on a three-node NATS (R3 streams). Each time the
standby takes over, and the store verifies on one snapshot with no order or trade
twice; a new standby is started for the next round. At the end: every request got
committed, rejected, unavailable or OUTCOME_UNKNOWN; every acknowledged order is there
with its terms; every OUTCOME_UNKNOWN order is found by its client order id; no order
or trade twice; conservation, the ledger and the holds verify; one epoch per leader."""

import random
import time
from collections.abc import Callable

from tests.cluster.checks import check_after_takeover, check_answers, check_store
from tests.cluster.harness import Cluster
from tests.cluster.load import Load, fund

USERS = ["fo-a", "fo-b", "fo-c", "fo-d"]
# How each leader in turn dies: killed at a random instant (None), or by its failpoint
# (the n-th time it passes the point, well into the load).
PLAN = (None, "after-durable:60", "after-commit:25", "after-publish:25", None)


def _failpoint(death: str | None) -> dict[str, str]:
    return {} if death is None else {"TRADE_ENGINE_FAILPOINT": death}


def test_the_standby_takes_over_at_every_crash_point_and_nothing_acknowledged_is_lost(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(nodes=3, cores=0, gateways=0)  # R3 streams, as in production
    cluster.add_core(wait_role="leader", **_failpoint(PLAN[0]))
    cluster.add_core(wait_role="standby", **_failpoint(PLAN[1]))
    cluster.add_gateway()
    cluster.add_gateway()
    fund(cluster.gateways[0], USERS)
    rng = random.Random(13)
    with Load(cluster.gateways, USERS) as load:
        for index, death in enumerate(PLAN):
            # Core `index` is the leader now (or is about to be), core `index + 1` its standby.
            old = cluster.cores[index]
            if death is None:
                old.wait_role("leader")
                time.sleep(rng.uniform(0.5, 1.5))
                old.kill()
            assert old.exited(timeout=60) is not None, (
                f"leader {index} did not die ({death}):\n{cluster.logs()}"
            )
            if death is not None:  # it died at its point, not of something else
                point = death.partition(":")[0]
                assert f'"failpoint":"{point}"' in old.log_path.read_text(), old.log_tail()
                assert old.process is not None
                assert old.process.returncode == -9
            # Its standby takes over (and may die at its own failpoint soon after; the
            # next standby, started now, then takes over from it).
            cluster.cores[index + 1].wait_took_over(timeout=30)
            assert not any(core.role_now() == "leader" for core in cluster.cores[: index + 1])
            check_after_takeover(cluster)  # each time, not only at the end
            following = PLAN[index + 2] if index + 2 < len(PLAN) else None
            # Not waited for as a standby: should the leader die first, it takes over at once.
            cluster.add_core(wait_role=None, **_failpoint(following))
        time.sleep(1.0)
    check_answers(cluster, load.outcomes)
    assert check_store(cluster) == len(PLAN) + 1
