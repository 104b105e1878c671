"""Abuse of the login and password endpoints (SPEC §5, §8): no user
enumeration by body or timing, NUL bytes and over-long passwords refused,
hostile usernames handled as data.

Timing.  The test cluster runs bcrypt at cost 4 (~1 ms), far below HTTP
noise, so an HTTP measurement alone could not catch a login that skips the
dummy hash for unknown emails.  The decisive measurement is made inside
the database, in a transaction that raises the cost to 8 for its own user
and its own dummy hashes and is rolled back (nothing is visible to other
tests): there a skipped bcrypt would be a 10x difference.  The HTTP check
compares medians with a tolerance of 10 % plus 2 ms of transport noise."""
import json
import os
import random
import statistics
import sys
import time
import uuid

import pytest
import requests

from conftest import bearer, login

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from gateway_harness import Gateway  # noqa: E402

WRONG_LOGIN = {"detail": "Incorrect email or password"}


def unique_email(prefix="abuse"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def signup(api, password=None):
    email = unique_email()
    password = password or "pw-" + uuid.uuid4().hex
    r = api.post("/users/signup", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"email": email, "password": password, "id": r.json()["id"]}


@pytest.fixture(scope="module")
def proxied():
    gw = Gateway(TRUSTED_PROXIES="127.0.0.1/32").start()
    yield gw
    gw.stop()


def addr():
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def test_unknown_email_and_wrong_password_same_status_and_body(api):
    u = signup(api)
    a = api.post("/login/access-token", data={"username": u["email"], "password": "wrong-password"})
    b = api.post("/login/access-token", data={"username": unique_email("ghost"), "password": "wrong-password"})
    assert (a.status_code, a.json()) == (b.status_code, b.json()) == (400, WRONG_LOGIN)
    drop = {"date", "x-request-id", "content-length"}
    ha = {k.lower(): v for k, v in a.headers.items() if k.lower() not in drop}
    hb = {k.lower(): v for k, v in b.headers.items() if k.lower() not in drop}
    assert ha == hb


def test_login_timing_http(api, proxied):
    """Medians of 15 interleaved tries each (random order within each pair,
    every try from its own address).  The machine is shared and HTTP noise
    is several times bcrypt's 1 ms at cost 4, so a round is measured again
    (up to 3 rounds) before the difference counts as real."""
    u = signup(api)
    url = proxied.url + "/api/v1/login/access-token"
    rounds = []
    with requests.Session() as s:
        for i in range(3):  # warm up connections and caches
            s.post(url, data={"username": u["email"], "password": "warm-up-pw"},
                   headers={"X-Forwarded-For": addr()})
        for _ in range(3):
            known, unknown = [], []
            for i in range(15):
                pair = [(u["email"], known), (unique_email("ghost"), unknown)]
                random.shuffle(pair)
                for email, bucket in pair:
                    t0 = time.perf_counter()
                    r = s.post(url, data={"username": email, "password": f"wrong-password-{i}"},
                               headers={"X-Forwarded-For": addr()}, timeout=30)
                    bucket.append(time.perf_counter() - t0)
                    assert r.status_code == 400 and r.json() == WRONG_LOGIN
            mk, mu = statistics.median(known), statistics.median(unknown)
            rounds.append((mk, mu))
            if abs(mk - mu) <= 0.10 * max(mk, mu) + 0.002:
                return
    pytest.fail(f"login timing differs (known, unknown medians in s): {rounds}")


def test_login_timing_in_database(dba_sql):
    """Known email + wrong password vs unknown email at bcrypt cost 8 (16x
    the work of cost 4), 20 interleaved tries each, within 10 %.  The
    fastest try of each kind is compared: other load on the machine only
    ever adds time, so the minimum is the work the login itself does.  On
    a loaded machine even the fastest of 20 can be slowed, so a round that
    disagrees is measured again (up to 4 rounds) before the difference
    counts as real; a login that skips the hash for an unknown email is far
    outside 10 % (and under the 3 ms floor) in every round."""
    rounds = []
    for _ in range(4):
        out = dba_sql(r"""
BEGIN;
UPDATE pgapp.settings SET value = '8' WHERE name = 'BCRYPT_COST';
SELECT api.signup('timing-known@example.com', 'right-password') IS NOT NULL AS signed_up \gset
CREATE TEMP TABLE t (kind text, ms float8) ON COMMIT DROP;
DO $$
DECLARE
	t0 timestamptz;
	i int;
	kind text;
	email text;
BEGIN
	FOR i IN 1..20 LOOP
		FOREACH kind IN ARRAY ARRAY['known', 'unknown'] LOOP
			email := CASE kind WHEN 'known' THEN 'timing-known@example.com'
				ELSE 'timing-ghost-' || i || '@example.com' END;
			t0 := clock_timestamp();
			BEGIN
				PERFORM pgapp.login_core(email, 'wrong-password', '192.0.2.' || i);
			EXCEPTION WHEN OTHERS THEN
				NULL;
			END;
			INSERT INTO t VALUES (kind, extract(epoch FROM clock_timestamp() - t0) * 1000);
		END LOOP;
	END LOOP;
END
$$;
SELECT json_object_agg(kind, m) FROM (
	SELECT kind, min(ms) AS m FROM t GROUP BY kind) x;
ROLLBACK;
""")
        fastest = json.loads(out.strip().splitlines()[-1])
        known, unknown = fastest["known"], fastest["unknown"]
        rounds.append((round(known, 3), round(unknown, 3)))
        # cost 8 is ~256 rounds: several milliseconds; a skipped hash would
        # be ~0, and load never makes a try faster: no second chance here
        assert known > 3 and unknown > 3, f"fastest (known, unknown) in ms, each round: {rounds}"
        if abs(known - unknown) <= 0.10 * max(known, unknown):
            break
    else:
        pytest.fail(f"login timing differs (fastest known, unknown in ms, each round): {rounds}")
    # rolled back: nothing stays
    assert dba_sql("SELECT count(*) FROM pgapp.users WHERE email = 'timing-known@example.com'") == "0"
    assert dba_sql("SELECT value FROM pgapp.settings WHERE name = 'BCRYPT_COST'") == "4"


# --- NUL bytes ----------------------------------------------------------------

def test_nul_in_form_password(api):
    u = signup(api)
    for body in (f"username={u['email']}&password={u['password']}%00",
                 f"username={u['email']}&password=%00{u['password']}",
                 f"username={u['email']}%00&password={u['password']}"):
        r = api.post("/login/access-token", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
        assert "access_token" not in r.text


def test_nul_in_json_passwords(api):
    email = unique_email()
    r = api.post("/users/signup", data=json.dumps({"email": email, "password": "abc\u0000defghij"}),
                 headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    r = api.post("/login/access-token", data={"username": email, "password": "abcdefghij"})
    assert r.status_code == 400  # nothing was created
    u = signup(api)
    tok = login(api, u["email"], u["password"])["access_token"]
    r = api.patch("/users/me/password", data=json.dumps({"current_password": u["password"],
                                                         "new_password": "new\u0000password"}),
                  headers={**bearer(tok), "Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert login(api, u["email"], u["password"])["access_token"]
    r = api.post("/reset-password/", data=json.dumps({"token": "x\u0000", "new_password": "abcdefghij"}),
                 headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, r.text


def test_nul_in_path_email(api):
    r = api.post("/password-recovery/a%00b@example.com")
    assert 400 <= r.status_code < 500, r.text


# --- lengths ----------------------------------------------------------------

def test_129_char_password_refused_everywhere(api, superuser_token):
    long_pw = "p" * 129
    r = api.post("/users/signup", json={"email": unique_email(), "password": long_pw})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "password"]
    assert long_pw not in r.text
    r = api.post("/users/", json={"email": unique_email(), "password": long_pw},
                 headers=bearer(superuser_token))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "password"]
    u = signup(api)
    tok = login(api, u["email"], u["password"])["access_token"]
    r = api.patch("/users/me/password", json={"current_password": u["password"], "new_password": long_pw},
                  headers=bearer(tok))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "new_password"]
    r = api.patch(f"/users/{u['id']}", json={"password": long_pw}, headers=bearer(superuser_token))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "password"]
    r = api.post("/reset-password/", json={"token": "whatever", "new_password": long_pw})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "new_password"]
    # 128 is accepted
    assert signup(api, password="p" * 128)["id"]


def test_huge_password_on_login_is_a_plain_failure(api):
    u = signup(api)
    for pw in ("p" * 129, "p" * 100_000, u["password"] + "x" * 1000):
        t0 = time.perf_counter()
        r = api.post("/login/access-token", data={"username": u["email"], "password": pw})
        assert r.status_code in (400, 413), r.text
        if r.status_code == 400:
            assert r.json() == WRONG_LOGIN
        assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("username", ["' OR 1=1 --", "admin@example.com' --", "%", "_@%",
                                      "*", "a" * 10_000, "admin@example.com\n", " admin@example.com"])
def test_hostile_usernames_are_data(api, username):
    r = api.post("/login/access-token", data={"username": username, "password": "wrong-password"})
    assert r.status_code in (400, 422), r.text
    if r.status_code == 400:
        assert r.json() == WRONG_LOGIN


def test_like_wildcards_do_not_match_accounts(api):
    u = signup(api)
    pattern = u["email"].replace("abuse", "ab_se").replace("example", "%")
    r = api.post("/login/access-token", data={"username": pattern, "password": u["password"]})
    assert r.status_code == 400 and r.json() == WRONG_LOGIN
    r = api.post(f"/password-recovery/{pattern}")
    assert r.status_code == 200


def test_recovery_does_not_enumerate(api):
    u = signup(api)
    a = api.post(f"/password-recovery/{u['email']}")
    b = api.post(f"/password-recovery/{unique_email('ghost')}")
    assert (a.status_code, a.json()) == (b.status_code, b.json())


def test_signup_cannot_escalate(api):
    email = unique_email()
    r = api.post("/users/signup", json={"email": email, "password": "password-1",
                                        "is_superuser": True, "is_active": False,
                                        "id": "00000000-0000-0000-0000-000000000001"})
    assert r.status_code == 200, r.text
    assert r.json()["is_superuser"] is False and r.json()["is_active"] is True
    assert r.json()["id"] != "00000000-0000-0000-0000-000000000001"
