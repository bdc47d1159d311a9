"""Outages (DESIGN §3): PostgreSQL and Redis restart under the running handlers.

These tests stop and start real services of the test stack, so they run last in this suite
(pytest runs files alphabetically; the name starts with "test_outages" and later files must not
depend on state they change) and always leave the stack up."""
import subprocess
import threading
import time

import pytest

from conftest import ENV, assert_problem, pg

STACK = [ENV["ATRIUM_STACK"]]


def stack(cmd, *services):
    subprocess.run(STACK + [cmd, ENV["ATRIUM_PROFILE"], *services], check=True,
                   capture_output=True, timeout=120)


@pytest.fixture(autouse=True)
def stack_back_up():
    yield
    stack("start")


def test_requests_succeed_right_after_postgres_restarts(tenant):
    assert tenant.owner.get("/v1/flows").status_code == 200
    stack("stop", "pg")
    stack("start")
    # every child holds a connection that died: each must reset it and retry, invisibly
    codes = [tenant.owner.get("/v1/flows").status_code for _ in range(12)]
    assert codes == [200] * 12


def test_postgres_down_answers_503_with_retry_after(tenant, anon):
    stack("stop", "pg")
    r = tenant.owner.get("/v1/flows")
    assert_problem(r, 503)
    assert int(r.headers["Retry-After"]) >= 1
    h = anon.get("/v1/health")
    assert h.status_code == 503 and h.json()["postgres"] == "down" and h.json()["redis"] == "up"
    stack("start")
    assert tenant.owner.get("/v1/flows").status_code == 200
    assert anon.get("/v1/health").status_code == 200


def test_redis_down_and_back(tenant, anon):
    stack("stop", "redis")
    h = anon.get("/v1/health")
    assert h.status_code == 503 and h.json()["redis"] == "down" and h.json()["postgres"] == "up"
    assert tenant.owner.get("/v1/flows").status_code == 200     # routes without Redis still work
    stack("start")
    assert [anon.get("/v1/health").status_code for _ in range(6)] == [200] * 6


def test_connection_lost_mid_transaction_is_503_and_nothing_half_written(tenant):
    holder = pg("postgres")
    cur = holder.cursor()
    cur.execute("LOCK TABLE flows IN ACCESS EXCLUSIVE MODE")
    result = {}

    def call():
        result["r"] = tenant.owner.post("/v1/flows", {"name": "mid-transaction"})

    t = threading.Thread(target=call)
    t.start()
    victims = []
    with pg("postgres") as c, c.cursor() as cur2:
        c.autocommit = True
        for _ in range(100):
            cur2.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'atrium-fcgi' "
                         "AND wait_event_type = 'Lock'")
            victims = [r[0] for r in cur2.fetchall()]
            if victims:
                break
            time.sleep(0.05)
        assert victims, "the request never reached the locked table"
        for pid in victims:
            cur2.execute("SELECT pg_terminate_backend(%s)", (pid,))
    holder.rollback()
    holder.close()
    t.join(30)
    r = result["r"]
    assert_problem(r, 503)
    assert int(r.headers["Retry-After"]) >= 1
    with pg("postgres") as c, c.cursor() as cur3:
        cur3.execute("SELECT count(*) FROM flows WHERE name = 'mid-transaction'")
        assert cur3.fetchone()[0] == 0
    assert tenant.owner.get("/v1/flows").status_code == 200
