"""Login over HTTP (SPEC §5): access token, refresh rotation and reuse
detection, logout, test-token, password recovery and reset (with the mail
in the outbox), the recovery HTML, and login throttling.

Throttling is per (account, client address): the main gateway sees every
test as 127.0.0.1, so the throttling tests use a second gateway that trusts
X-Forwarded-For from 127.0.0.1 and give each case its own addresses."""
import os
import random
import re
import sys
import uuid
from datetime import datetime

import pytest
import requests

from conftest import bearer, login

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gateway_harness import Gateway  # noqa: E402

USER_KEYS = {"id", "email", "is_active", "is_superuser", "full_name", "created_at"}
TOKEN_KEYS = {"access_token", "token_type", "expires_in", "refresh_token"}
BAD_CREDENTIALS = {"detail": "Could not validate credentials"}
WRONG_LOGIN = {"detail": "Incorrect email or password"}
INVALID_REFRESH = {"detail": "Invalid refresh token"}
TOO_MANY = {"detail": "Too many login attempts, try again later"}


def unique_email(prefix="login"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def signup(api, email=None, password=None):
    email = email or unique_email()
    password = password or "pw-" + uuid.uuid4().hex
    r = api.post("/users/signup", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"email": email, "password": password, "id": r.json()["id"]}


def refresh(api, token, **extra):
    return api.post("/login/refresh-token",
                    data={"grant_type": "refresh_token", "refresh_token": token, **extra})


def me_status(api, token):
    return api.get("/users/me", headers=bearer(token)).status_code


def assert_bad_token(r):
    assert r.status_code == 401, r.text
    assert r.json() == BAD_CREDENTIALS
    assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def assert_token(body):
    assert set(body) == TOKEN_KEYS, body
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    assert body["access_token"].count(".") == 2
    assert len(body["refresh_token"]) >= 32
    assert body["refresh_token"] != body["access_token"]


def locs(r):
    assert r.status_code == 422, r.text
    return [e["loc"] for e in r.json()["detail"]]


# --- /login/access-token ----------------------------------------------------

def test_login_returns_token(api):
    u = signup(api)
    r = api.post("/login/access-token", data={"username": u["email"], "password": u["password"]})
    assert r.status_code == 200, r.text
    assert_token(r.json())
    assert me_status(api, r.json()["access_token"]) == 200
    r = api.post("/login/access-token", data={"username": u["email"], "password": u["password"],
                                              "grant_type": "password", "scope": "", "client_id": "x"})
    assert r.status_code == 200, r.text
    # two logins: two different sessions and tokens
    a, b = login(api, u["email"], u["password"]), login(api, u["email"], u["password"])
    assert a["access_token"] != b["access_token"] and a["refresh_token"] != b["refresh_token"]


def test_login_is_case_insensitive(api):
    u = signup(api, email="CaSe-" + uuid.uuid4().hex[:8] + "@Example.com")
    for variant in (u["email"], u["email"].lower(), u["email"].upper()):
        tok = login(api, variant, u["password"])["access_token"]
        me = api.get("/users/me", headers=bearer(tok)).json()
        assert me["id"] == u["id"] and me["email"] == u["email"]


def test_login_password_is_case_sensitive(api):
    u = signup(api, password="Password-ABC")
    r = api.post("/login/access-token", data={"username": u["email"], "password": "password-abc"})
    assert r.status_code == 400 and r.json() == WRONG_LOGIN


def test_wrong_password_and_unknown_email_same_answer(api):
    u = signup(api)
    r1 = api.post("/login/access-token", data={"username": u["email"], "password": "not-the-password"})
    r2 = api.post("/login/access-token", data={"username": unique_email("nobody"),
                                               "password": "not-the-password"})
    assert r1.status_code == r2.status_code == 400
    assert r1.json() == r2.json() == WRONG_LOGIN
    assert r1.headers.get("Content-Type") == r2.headers.get("Content-Type")


def test_login_validation(api):
    assert locs(api.post("/login/access-token", data={"password": "password-1"})) == [["body", "username"]]
    assert locs(api.post("/login/access-token", data={"username": "a@example.com"})) == [["body", "password"]]
    assert locs(api.post("/login/access-token", data={})) == [["body", "username"], ["body", "password"]]
    r = api.post("/login/access-token", data={"username": "a@example.com", "password": "password-1",
                                              "grant_type": "client_credentials"})
    assert locs(r) == [["body", "grant_type"]]


def browser_form(fields, boundary="----WebKitFormBoundaryx7NrF2Qm1aPz9LkE"):
    """The body and Content-Type a browser sends for a FormData object,
    which is how the template's generated client posts the login form."""
    body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in fields.items())
    return (body + f"--{boundary}--\r\n").encode(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_login_multipart(api):
    u = signup(api, password="pässwörd-" + uuid.uuid4().hex[:8])
    body, headers = browser_form({"username": u["email"], "password": u["password"]})
    r = api.post("/login/access-token", data=body, headers=headers)
    assert r.status_code == 200, r.text
    assert_token(r.json())
    assert me_status(api, r.json()["access_token"]) == 200
    # requests' own encoder (text fields only), and the refresh route alike
    r = api.post("/login/access-token", files={"username": (None, u["email"]),
                                               "password": (None, u["password"]),
                                               "grant_type": (None, "password")})
    assert r.status_code == 200, r.text
    r = api.post("/login/refresh-token", files={"refresh_token": (None, r.json()["refresh_token"])})
    assert r.status_code == 200, r.text
    assert_token(r.json())


def test_login_multipart_errors(api):
    u = signup(api)
    body, headers = browser_form({"username": u["email"], "password": "not-the-password"})
    r = api.post("/login/access-token", data=body, headers=headers)
    assert r.status_code == 400 and r.json() == WRONG_LOGIN
    body, headers = browser_form({"username": u["email"]})
    assert locs(api.post("/login/access-token", data=body, headers=headers)) == [["body", "password"]]
    # an uploaded file is not a text field
    r = api.post("/login/access-token", files={"username": (None, u["email"]),
                                               "password": ("password.txt", u["password"], "text/plain")})
    assert locs(r) == [["body", "password"]]
    # cut short, no boundary: FastAPI's answer to a body it cannot parse
    body, headers = browser_form({"username": u["email"], "password": u["password"]})
    for data, hdrs in ((body[:-8], headers), (body, {"Content-Type": "multipart/form-data"})):
        r = api.post("/login/access-token", data=data, headers=hdrs)
        assert r.status_code == 400, r.text
        assert r.json() == {"detail": "There was an error parsing the body"}
    r = api.post("/login/access-token", data=body, headers={"Content-Type": "multipart/mixed; boundary=x"})
    assert r.status_code == 415 and r.json() == {"detail": "Unsupported Media Type"}


# --- /login/test-token --------------------------------------------------------

def test_test_token(api):
    u = signup(api)
    tok = login(api, u["email"], u["password"])["access_token"]
    r = api.post("/login/test-token", headers=bearer(tok))
    assert r.status_code == 200, r.text
    assert set(r.json()) == USER_KEYS
    assert r.json()["id"] == u["id"] and r.json()["email"] == u["email"]
    datetime.fromisoformat(r.json()["created_at"])
    r = api.post("/login/test-token")
    assert r.status_code == 401 and r.json() == {"detail": "Not authenticated"}
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert_bad_token(api.post("/login/test-token", headers=bearer(tok + "x")))


# --- refresh ------------------------------------------------------------------

def test_refresh_rotation(api):
    u = signup(api)
    first = login(api, u["email"], u["password"])
    r = refresh(api, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert_token(second)
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert me_status(api, second["access_token"]) == 200
    # the next rotation works from the new token
    r = refresh(api, second["refresh_token"])
    assert r.status_code == 200, r.text
    third = r.json()
    assert me_status(api, third["access_token"]) == 200
    # grant_type is optional (defaults to refresh_token)
    r = api.post("/login/refresh-token", data={"refresh_token": third["refresh_token"]})
    assert r.status_code == 200, r.text


def test_refresh_reuse_revokes_the_session(api):
    u = signup(api)
    other = login(api, u["email"], u["password"])      # another session, must live
    first = login(api, u["email"], u["password"])
    second = refresh(api, first["refresh_token"]).json()
    assert me_status(api, second["access_token"]) == 200
    # the spent token again: refused, and the whole session dies
    r = refresh(api, first["refresh_token"])
    assert r.status_code == 400, r.text
    assert r.json() == INVALID_REFRESH
    # the revocation survived the failed request
    assert_bad_token(api.get("/users/me", headers=bearer(second["access_token"])))
    assert_bad_token(api.get("/users/me", headers=bearer(first["access_token"])))
    r = refresh(api, second["refresh_token"])
    assert r.status_code == 400 and r.json() == INVALID_REFRESH
    # the user's other session is untouched
    assert me_status(api, other["access_token"]) == 200
    assert refresh(api, other["refresh_token"]).status_code == 200


def test_refresh_reuse_revocation_is_committed(api, dba_sql):
    u = signup(api)
    first = login(api, u["email"], u["password"])
    assert refresh(api, first["refresh_token"]).status_code == 200
    assert refresh(api, first["refresh_token"]).status_code == 400
    revoked = dba_sql("SELECT count(*) FILTER (WHERE revoked_at IS NOT NULL) || '/' || count(*) "
                      "FROM pgapp.sessions WHERE user_id = :'uid'", variables={"uid": u["id"]})
    assert revoked == "1/1"


def test_refresh_errors(api):
    for bad in ("", "not-a-token", "A" * 43, "x" * 5000):
        r = refresh(api, bad)
        assert r.status_code in (400, 422), r.text
        if r.status_code == 400:
            assert r.json() == INVALID_REFRESH
    r = refresh(api, "not-a-token")
    assert r.status_code == 400 and r.json() == INVALID_REFRESH
    assert locs(api.post("/login/refresh-token", data={"grant_type": "refresh_token"})) == [
        ["body", "refresh_token"]]
    u = signup(api)
    t = login(api, u["email"], u["password"])
    r = api.post("/login/refresh-token", data={"grant_type": "password",
                                               "refresh_token": t["refresh_token"]})
    assert locs(r) == [["body", "grant_type"]]
    # that 422 did not spend the token
    assert refresh(api, t["refresh_token"]).status_code == 200
    # an access token is not a refresh token
    t = login(api, u["email"], u["password"])
    r = refresh(api, t["access_token"])
    assert r.status_code == 400 and r.json() == INVALID_REFRESH


def test_refresh_for_inactive_user(api, superuser_token):
    u = signup(api)
    t = login(api, u["email"], u["password"])
    r = api.patch(f"/users/{u['id']}", json={"is_active": False}, headers=bearer(superuser_token))
    assert r.status_code == 200
    r = refresh(api, t["refresh_token"])
    assert r.status_code == 400 and r.json() == {"detail": "Inactive user"}


# --- logout -----------------------------------------------------------------

def test_logout_kills_this_session_only(api):
    u = signup(api)
    a = login(api, u["email"], u["password"])
    b = login(api, u["email"], u["password"])
    r = api.post("/logout", headers=bearer(a["access_token"]))
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Logged out"}
    assert_bad_token(api.get("/users/me", headers=bearer(a["access_token"])))
    r = refresh(api, a["refresh_token"])
    assert r.status_code == 400 and r.json() == INVALID_REFRESH
    assert_bad_token(api.post("/logout", headers=bearer(a["access_token"])))
    # the other session lives
    assert me_status(api, b["access_token"]) == 200
    assert refresh(api, b["refresh_token"]).status_code == 200


def test_logout_after_refresh_kills_rotated_tokens(api):
    u = signup(api)
    a = login(api, u["email"], u["password"])
    a2 = refresh(api, a["refresh_token"]).json()
    assert api.post("/logout", headers=bearer(a["access_token"])).status_code == 200
    assert_bad_token(api.get("/users/me", headers=bearer(a2["access_token"])))
    assert refresh(api, a2["refresh_token"]).status_code == 400


def test_logout_requires_a_token(api):
    r = api.post("/logout")
    assert r.status_code == 401 and r.json() == {"detail": "Not authenticated"}
    assert r.headers["WWW-Authenticate"] == "Bearer"


# --- recovery and reset -----------------------------------------------------

def outbox(dba_sql, email):
    """The newest recovery mail body for email, or ''."""
    return dba_sql("SELECT coalesce((SELECT html FROM pgapp.mail_outbox WHERE lower(recipient) = lower(:'e') "
                   "ORDER BY id DESC LIMIT 1), '')", variables={"e": email})


def outbox_count(dba_sql, email):
    return int(dba_sql("SELECT count(*) FROM pgapp.mail_outbox WHERE lower(recipient) = lower(:'e')",
                       variables={"e": email}))


def reset_token_from(html):
    m = re.search(r'href="([^"]*)/reset-password\?token=([A-Za-z0-9_\-]+)"', html)
    assert m, html
    assert m.group(1) == os.environ.get("FRONTEND_HOST", "http://localhost:5173")
    return m.group(2)


def test_recovery_same_answer_known_and_unknown(api, dba_sql):
    u = signup(api)
    unknown = unique_email("ghost")
    r1 = api.post(f"/password-recovery/{u['email']}")
    r2 = api.post(f"/password-recovery/{unknown}")
    assert r1.status_code == r2.status_code == 200, (r1.text, r2.text)
    assert r1.json() == r2.json()
    assert set(r1.json()) == {"message"}
    assert r1.headers.get("Content-Type") == r2.headers.get("Content-Type")
    assert outbox_count(dba_sql, u["email"]) == 1
    assert outbox_count(dba_sql, unknown) == 0
    # case-insensitive match, the mail goes to the stored address
    r = api.post(f"/password-recovery/{u['email'].upper()}")
    assert r.status_code == 200
    assert outbox_count(dba_sql, u["email"]) == 2


def test_recovery_address_in_the_path_as_the_client_encodes_it(api, dba_sql):
    # the template's client puts the address in the path with encodeURI,
    # which leaves "+" and "@" as they are; a path's "+" is no space
    u = signup(api, email=f"first+tag-{uuid.uuid4().hex[:8]}@example.com")
    r = api.post(f"/password-recovery/{u['email']}")
    assert r.status_code == 200 and u["email"] in r.request.url
    assert api.post(f"/password-recovery/{u['email'].replace('+', '%2B').replace('@', '%40')}").status_code == 200
    assert outbox_count(dba_sql, u["email"]) == 2


def test_recovery_and_reset(api, dba_sql):
    u = signup(api)
    sessions = [login(api, u["email"], u["password"]) for _ in range(2)]
    assert api.post(f"/password-recovery/{u['email']}").status_code == 200
    html = outbox(dba_sql, u["email"])
    token = reset_token_from(html)
    assert u["email"] in html
    # a 422 does not spend the token
    r = api.post("/reset-password/", json={"token": token, "new_password": "short"})
    assert locs(r) == [["body", "new_password"]]
    assert locs(api.post("/reset-password/", json={"new_password": "long-enough-1"})) == [["body", "token"]]
    r = api.post("/reset-password/", json={"token": token, "new_password": "reset-pass-1"})
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Password updated successfully"}
    # every session is revoked
    for s in sessions:
        assert_bad_token(api.get("/users/me", headers=bearer(s["access_token"])))
        assert refresh(api, s["refresh_token"]).status_code == 400
    # new password works, old one doesn't
    assert login(api, u["email"], "reset-pass-1")["access_token"]
    r = api.post("/login/access-token", data={"username": u["email"], "password": u["password"]})
    assert r.status_code == 400 and r.json() == WRONG_LOGIN
    # single use
    r = api.post("/reset-password", json={"token": token, "new_password": "reset-pass-2"})
    assert r.status_code == 400 and r.json() == {"detail": "Invalid token"}
    assert login(api, u["email"], "reset-pass-1")["access_token"]


def test_reset_bad_tokens(api):
    for bad in ("nope", "", "A" * 43):
        r = api.post("/reset-password/", json={"token": bad, "new_password": "reset-pass-1"})
        assert r.status_code == 400, r.text
        assert r.json() == {"detail": "Invalid token"}


def test_older_reset_token_still_single_use(api, dba_sql):
    u = signup(api)
    api.post(f"/password-recovery/{u['email']}")
    t1 = reset_token_from(outbox(dba_sql, u["email"]))
    api.post(f"/password-recovery/{u['email']}")
    t2 = reset_token_from(outbox(dba_sql, u["email"]))
    assert t1 != t2
    assert api.post("/reset-password/", json={"token": t2, "new_password": "reset-pass-2"}).status_code == 200
    assert api.post("/reset-password/", json={"token": t2, "new_password": "reset-pass-3"}).status_code == 400


def test_recovery_html_content(api, superuser_token, dba_sql):
    u = signup(api)
    r = api.post(f"/password-recovery-html-content/{u['email']}", headers=bearer(superuser_token))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/html")
    html = r.text
    assert html.lstrip().lower().startswith("<!doctype html")
    assert u["email"] in html
    token = reset_token_from(html)
    # the link in it is a real, single-use reset link
    r = api.post("/reset-password/", json={"token": token, "new_password": "from-html-1"})
    assert r.status_code == 200, r.text
    assert login(api, u["email"], "from-html-1")["access_token"]
    assert api.post("/reset-password/", json={"token": token, "new_password": "from-html-2"}).status_code == 400


def test_recovery_html_content_superuser_only(api, superuser_token):
    u = signup(api)
    tok = login(api, u["email"], u["password"])["access_token"]
    r = api.post(f"/password-recovery-html-content/{u['email']}", headers=bearer(tok))
    assert r.status_code == 403
    assert r.json() == {"detail": "The user doesn't have enough privileges"}
    r = api.post(f"/password-recovery-html-content/{u['email']}")
    assert r.status_code == 401 and r.json() == {"detail": "Not authenticated"}
    r = api.post(f"/password-recovery-html-content/{unique_email('ghost')}",
                 headers=bearer(superuser_token))
    assert r.status_code == 404


def test_recovery_html_escapes_the_address(api, superuser_token):
    email = f"x<b>{uuid.uuid4().hex[:8]}&y@example.com"
    r = api.post("/users/signup", json={"email": email, "password": "password-1"})
    if r.status_code == 422:
        return  # such an address is refused outright: nothing to escape
    assert r.status_code == 200, r.text
    r = api.post(f"/password-recovery-html-content/{requests.utils.quote(email)}",
                 headers=bearer(superuser_token))
    assert r.status_code == 200, r.text
    assert "<b>" not in r.text
    assert "x&lt;b&gt;" in r.text


# --- throttling -------------------------------------------------------------

@pytest.fixture(scope="module")
def proxied():
    """A second gateway that takes the client address from X-Forwarded-For."""
    gw = Gateway(TRUSTED_PROXIES="127.0.0.1/32").start()
    yield gw
    gw.stop()


def addr():
    """A client address of its own (TEST-NET-2/3 and 10/8)."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def login_from(gw, address, email, password):
    return requests.post(gw.url + "/api/v1/login/access-token",
                         data={"username": email, "password": password},
                         headers={"X-Forwarded-For": address}, timeout=30)


def assert_429(r):
    assert r.status_code == 429, r.text
    assert r.json() == TOO_MANY
    retry = int(r.headers["Retry-After"])
    assert 0 < retry <= 3600
    return retry


def test_throttle_pair_locks_after_10_failures(proxied, api):
    u = signup(api)
    here, elsewhere = addr(), addr()
    for i in range(10):
        r = login_from(proxied, here, u["email"], f"wrong-password-{i}")
        assert r.status_code == 400, (i, r.text)
        assert r.json() == WRONG_LOGIN
    # locked: even the correct password gets 429, before any password check
    retry = assert_429(login_from(proxied, here, u["email"], u["password"]))
    assert retry <= 60
    assert_429(login_from(proxied, here, u["email"].upper(), "wrong-password"))
    # the victim logs in from another address
    r = login_from(proxied, elsewhere, u["email"], u["password"])
    assert r.status_code == 200, r.text
    r = login_from(proxied, elsewhere, u["email"], "wrong-again")
    assert r.status_code == 400 and r.json() == WRONG_LOGIN
    # another account from the locked address is not locked
    v = signup(api)
    assert login_from(proxied, here, v["email"], v["password"]).status_code == 200


def test_throttle_unknown_email_alike(proxied):
    ghost = unique_email("ghost")
    here = addr()
    for i in range(10):
        r = login_from(proxied, here, ghost, f"wrong-password-{i}")
        assert r.status_code == 400 and r.json() == WRONG_LOGIN
    assert_429(login_from(proxied, here, ghost, "whatever-pass"))


def test_throttle_failures_recorded_although_request_failed(proxied, api, dba_sql):
    u = signup(api)
    here = addr()
    for i in range(3):
        assert login_from(proxied, here, u["email"].upper(), f"bad-pass-{i}").status_code == 400
    got = dba_sql("SELECT failures FROM pgapp.login_throttle WHERE key = :'k'",
                  variables={"k": f"pair:{u['email'].lower()}|{here}"})
    assert got == "3"
    got = dba_sql("SELECT failures FROM pgapp.login_throttle WHERE key = :'k'",
                  variables={"k": f"client:{here}"})
    assert got == "3"
    # a success does not count
    assert login_from(proxied, here, u["email"], u["password"]).status_code == 200
    got = dba_sql("SELECT failures FROM pgapp.login_throttle WHERE key = :'k'",
                  variables={"k": f"pair:{u['email'].lower()}|{here}"})
    assert int(got) <= 3


def test_throttle_ipv6_counts_per_64(proxied, api):
    u = signup(api)
    net = f"2001:db8:{random.randrange(65536):x}:{random.randrange(65536):x}"
    for i in range(10):
        r = login_from(proxied, f"{net}::{i + 1:x}", u["email"], f"wrong-password-{i}")
        assert r.status_code == 400, r.text
    assert_429(login_from(proxied, f"{net}:ffff:ffff:ffff:ffff", u["email"], u["password"]))
    other = f"2001:db8:{random.randrange(65536):x}:{random.randrange(65536):x}::1"
    assert login_from(proxied, other, u["email"], u["password"]).status_code == 200


def test_throttle_lock_grows(proxied, api, dba_sql):
    u = signup(api)
    here = addr()
    key = f"pair:{u['email'].lower()}|{here}"
    for i in range(10):
        login_from(proxied, here, u["email"], f"wrong-password-{i}")
    first = assert_429(login_from(proxied, here, u["email"], u["password"]))
    # the lock runs out (moved into the past, as time would)
    dba_sql("UPDATE pgapp.login_throttle SET locked_until = now() - interval '1 second', "
            "window_start = now() - interval '2 minutes' WHERE key = :'k'", variables={"k": key})
    assert login_from(proxied, here, u["email"], u["password"]).status_code == 200
    for i in range(10):
        assert login_from(proxied, here, u["email"], f"wrong-password-{i}").status_code == 400
    second = assert_429(login_from(proxied, here, u["email"], u["password"]))
    assert second > first
    assert second > 60


def test_throttle_per_address_limit(proxied, api):
    here = addr()
    # 100 failures from one address, spread over accounts (9 each)
    n = 0
    while n < 100:
        ghost = unique_email("spray")
        for _ in range(min(9, 100 - n)):
            r = login_from(proxied, here, ghost, "wrong-password")
            assert r.status_code == 400, (n, r.text)
            n += 1
    # the address is locked for every account, even a fresh one
    u = signup(api)
    assert_429(login_from(proxied, here, u["email"], u["password"]))
    assert login_from(proxied, addr(), u["email"], u["password"]).status_code == 200


def test_psql_login_throttled_per_account(dba_sql, api):
    """api.login has no client address: it is throttled per account only
    (1,000 failures an hour).  Each failure aborts the caller's transaction,
    yet must be counted: after 1,000 of them, in one psql session, the
    account is locked for psql callers, even with the right password."""
    u = signup(api)
    script = "\\set ON_ERROR_STOP 0\n" + "SELECT api.login(:'e', 'wrong-password');\n" * 1000
    proc = dba_sql(script, check=False, variables={"e": u["email"]})
    assert proc.stderr.count("Incorrect email or password") >= 990, proc.stderr[-500:]
    proc = dba_sql("SELECT api.login(:'e', :'p') ->> 'token_type'", check=False,
                   variables={"e": u["email"], "p": u["password"]})
    assert proc.returncode != 0, proc.stdout
    assert "Too many login attempts" in proc.stderr, proc.stderr
    # the lock is per account across addresses: HTTP logins are locked too
    r = api.post("/login/access-token", data={"username": u["email"], "password": u["password"]})
    assert r.status_code == 429, r.text
