"""Users over HTTP (SPEC §5): every /users route with its success shape and
its errors — 401/400/403/404/409/422 bodies, case-insensitive emails,
password length in code points and the 72-byte bcrypt prefix, superuser
management, deletion cascading to items.  Every test makes its own users."""
import uuid
from datetime import datetime

import pytest

from conftest import bearer, login

USER_KEYS = {"id", "email", "is_active", "is_superuser", "full_name", "created_at"}
NOT_AUTHENTICATED = {"detail": "Not authenticated"}
BAD_CREDENTIALS = {"detail": "Could not validate credentials"}
NO_PRIVILEGES = {"detail": "The user doesn't have enough privileges"}
MISSING_UUID = "00000000-0000-0000-0000-000000000000"


def unique_email(prefix="u"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def signup(api, email=None, password=None, **extra):
    email = email or unique_email("signup")
    password = password or "pw-" + uuid.uuid4().hex
    r = api.post("/users/signup", json={"email": email, "password": password, **extra})
    assert r.status_code == 200, r.text
    return {"email": email, "password": password, "id": r.json()["id"], "public": r.json()}


def user_with_token(api, **kw):
    u = signup(api, **kw)
    tokens = login(api, u["email"], u["password"])
    u["token"] = tokens["access_token"]
    u["refresh_token"] = tokens["refresh_token"]
    return u


def assert_user_public(body, email=None):
    assert set(body) == USER_KEYS, body
    uuid.UUID(body["id"])
    datetime.fromisoformat(body["created_at"])
    assert isinstance(body["is_active"], bool) and isinstance(body["is_superuser"], bool)
    if email is not None:
        assert body["email"] == email


def assert_401(r, body=NOT_AUTHENTICATED):
    assert r.status_code == 401, r.text
    assert r.json() == body
    www = r.headers.get("WWW-Authenticate", "")
    assert www.startswith("Bearer")
    if body == BAD_CREDENTIALS:
        assert 'error="invalid_token"' in www
    else:
        assert "error=" not in www


def locs(r):
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail
    for e in detail:
        assert {"type", "loc", "msg", "input"} <= set(e), e
    return [e["loc"] for e in detail]


# --- signup -----------------------------------------------------------------

def test_signup_returns_user_public(api):
    email = unique_email("Signup")
    r = api.post("/users/signup", json={"email": email, "password": "password-1",
                                        "full_name": "Ada L", "confirm_password": "x",
                                        "is_superuser": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_user_public(body, email)
    assert body["full_name"] == "Ada L"
    assert body["is_active"] is True
    assert body["is_superuser"] is False, "signup must never create a superuser"
    # the new account can log in
    assert login(api, email, "password-1")["token_type"] == "bearer"


def test_signup_full_name_optional(api):
    u = signup(api)
    assert u["public"]["full_name"] is None


def test_signup_duplicate_email_is_400_case_insensitive(api):
    email = unique_email("dup")
    signup(api, email=email.lower())
    for variant in (email.lower(), email.upper(), email[0].upper() + email[1:]):
        r = api.post("/users/signup", json={"email": variant, "password": "password-2"})
        assert r.status_code == 400, (variant, r.text)
        assert r.json() == {"detail": "The user with this email already exists in the system"}


def test_signup_email_is_stored_as_given(api, superuser_token):
    email = "MiXeD-" + uuid.uuid4().hex[:8] + "@Example.COM"
    u = signup(api, email=email)
    assert u["public"]["email"] == email
    r = api.get(f"/users/{u['id']}", headers=bearer(superuser_token))
    assert r.json()["email"] == email


@pytest.mark.parametrize("body,expected", [
    ({}, [["body", "email"], ["body", "password"]]),
    ({"email": "not-an-email", "password": "password-1"}, [["body", "email"]]),
    ({"email": "a@b", "password": "password-1"}, [["body", "email"]]),
    ({"password": "password-1"}, [["body", "email"]]),
    ({"email": "x@example.com"}, [["body", "password"]]),
    ({"email": "x@example.com", "password": "short"}, [["body", "password"]]),
    ({"email": "x@example.com", "password": "p" * 129}, [["body", "password"]]),
    ({"email": "x@example.com", "password": "password-1", "full_name": "f" * 256},
     [["body", "full_name"]]),
    ({"email": "a" * 250 + "@example.com", "password": "password-1"}, [["body", "email"]]),
])
def test_signup_validation_422(api, body, expected):
    r = api.post("/users/signup", json=body)
    assert locs(r) == expected


def test_password_never_echoed_in_422(api):
    secret = "s3cr" + uuid.uuid4().hex * 4  # 132 characters: too long
    r = api.post("/users/signup", json={"email": unique_email(), "password": secret})
    assert r.status_code == 422
    assert secret not in r.text


def test_password_length_counts_code_points(api):
    # 128 four-byte characters (512 bytes) are accepted and work
    pw = "\U0001F600" * 128
    u = signup(api, password=pw)
    assert login(api, u["email"], pw)["access_token"]
    # 129 code points are refused, also when each is one byte
    for bad in ("\U0001F600" * 129, "a" * 129):
        r = api.post("/users/signup", json={"email": unique_email(), "password": bad})
        assert locs(r) == [["body", "password"]]
        assert r.json()["detail"][0]["type"] == "string_too_long"
    # 8 code points is enough even if that's 8 bytes; 7 is not
    assert signup(api, password="é" * 8)["id"]
    r = api.post("/users/signup", json={"email": unique_email(), "password": "é" * 7})
    assert r.json()["detail"][0]["type"] == "string_too_short"


def test_passwords_sharing_a_72_byte_prefix_do_not_verify_each_other(api):
    prefix = "x" * 72
    u = signup(api, password=prefix + "-first")
    r = api.post("/login/access-token", data={"username": u["email"], "password": prefix + "-second"})
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "Incorrect email or password"}
    r = api.post("/login/access-token", data={"username": u["email"], "password": prefix})
    assert r.status_code == 400
    assert login(api, u["email"], prefix + "-first")["access_token"]
    # multi-byte: 36 two-byte characters are 72 bytes
    prefix = "é" * 36
    u = signup(api, password=prefix + "A")
    r = api.post("/login/access-token", data={"username": u["email"], "password": prefix + "B"})
    assert r.status_code == 400


# --- /users/me --------------------------------------------------------------

def test_me(api):
    u = user_with_token(api, full_name="Me Myself")
    r = api.get("/users/me", headers=bearer(u["token"]))
    assert r.status_code == 200, r.text
    assert_user_public(r.json(), u["email"])
    assert r.json() == u["public"]
    r = api.get("/users/me/", headers=bearer(u["token"]))
    assert r.status_code == 200 and r.json() == u["public"]


def test_me_without_token_401(api):
    assert_401(api.get("/users/me"))
    assert_401(api.get("/users/me", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}))
    assert_401(api.get("/users/me", headers={"Authorization": "Bearer"}))


def test_me_bad_token_401(api):
    for token in ("garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.x"):
        assert_401(api.get("/users/me", headers=bearer(token)), BAD_CREDENTIALS)


def test_inactive_user_token_400_and_login_400(api, superuser_token):
    u = user_with_token(api)
    r = api.patch(f"/users/{u['id']}", json={"is_active": False}, headers=bearer(superuser_token))
    assert r.status_code == 200 and r.json()["is_active"] is False
    r = api.get("/users/me", headers=bearer(u["token"]))
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "Inactive user"}
    r = api.post("/login/access-token", data={"username": u["email"], "password": u["password"]})
    assert r.status_code == 400
    assert r.json() == {"detail": "Inactive user"}
    # a wrong password for an inactive user says nothing about the account
    r = api.post("/login/access-token", data={"username": u["email"], "password": "wrong-password"})
    assert r.status_code == 400 and r.json() == {"detail": "Incorrect email or password"}
    # reactivated: the old token works again (its session was never revoked)
    api.patch(f"/users/{u['id']}", json={"is_active": True}, headers=bearer(superuser_token))
    assert api.get("/users/me", headers=bearer(u["token"])).status_code == 200


def test_update_me(api):
    u = user_with_token(api)
    new_email = unique_email("New")
    r = api.patch("/users/me", json={"full_name": "Changed", "email": new_email,
                                     "is_superuser": True, "is_active": False},
                  headers=bearer(u["token"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert_user_public(body, new_email)
    assert body["full_name"] == "Changed"
    assert body["is_superuser"] is False and body["is_active"] is True
    # login with the new address, case-insensitively; the old one is gone
    assert login(api, new_email.upper(), u["password"])["access_token"]
    r = api.post("/login/access-token", data={"username": u["email"], "password": u["password"]})
    assert r.status_code == 400
    # partial: only full_name; null clears it
    r = api.patch("/users/me", json={"full_name": None}, headers=bearer(u["token"]))
    assert r.status_code == 200 and r.json()["full_name"] is None and r.json()["email"] == new_email
    r = api.patch("/users/me", json={}, headers=bearer(u["token"]))
    assert r.status_code == 200 and r.json()["email"] == new_email


def test_update_me_own_email_other_case_is_fine(api):
    u = user_with_token(api)
    r = api.patch("/users/me", json={"email": u["email"].upper()}, headers=bearer(u["token"]))
    assert r.status_code == 200, r.text
    assert r.json()["email"] == u["email"].upper()


def test_update_me_duplicate_email_409_case_insensitive(api):
    a = user_with_token(api)
    b = signup(api)
    for variant in (b["email"], b["email"].upper()):
        r = api.patch("/users/me", json={"email": variant}, headers=bearer(a["token"]))
        assert r.status_code == 409, r.text
        assert r.json() == {"detail": "User with this email already exists"}
    # nothing changed
    assert api.get("/users/me", headers=bearer(a["token"])).json()["email"] == a["email"]


def test_update_me_validation(api):
    u = user_with_token(api)
    r = api.patch("/users/me", json={"email": "nope"}, headers=bearer(u["token"]))
    assert locs(r) == [["body", "email"]]
    r = api.patch("/users/me", json={"full_name": "n" * 256}, headers=bearer(u["token"]))
    assert locs(r) == [["body", "full_name"]]
    r = api.patch("/users/me", json={"full_name": 5}, headers=bearer(u["token"]))
    assert locs(r) == [["body", "full_name"]]
    # auth before validation
    assert_401(api.patch("/users/me", json={"email": "nope"}))


def test_update_password_me(api):
    u = user_with_token(api)
    other = login(api, u["email"], u["password"])  # a second session
    r = api.patch("/users/me/password", json={"current_password": u["password"],
                                              "new_password": "brand-new-pw"},
                  headers=bearer(u["token"]))
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Password updated successfully"}
    # this session lives, the other one is revoked (access and refresh)
    assert api.get("/users/me", headers=bearer(u["token"])).status_code == 200
    assert_401(api.get("/users/me", headers=bearer(other["access_token"])), BAD_CREDENTIALS)
    r = api.post("/login/refresh-token", data={"grant_type": "refresh_token",
                                               "refresh_token": other["refresh_token"]})
    assert r.status_code == 400 and r.json() == {"detail": "Invalid refresh token"}
    # the current session's refresh token still works
    r = api.post("/login/refresh-token", data={"grant_type": "refresh_token",
                                               "refresh_token": u["refresh_token"]})
    assert r.status_code == 200, r.text
    # old password no longer, new one yes
    r = api.post("/login/access-token", data={"username": u["email"], "password": u["password"]})
    assert r.status_code == 400
    assert login(api, u["email"], "brand-new-pw")["access_token"]


def test_update_password_me_errors(api):
    u = user_with_token(api)
    r = api.patch("/users/me/password", json={"current_password": u["password"],
                                              "new_password": u["password"]},
                  headers=bearer(u["token"]))
    assert r.status_code == 400
    assert r.json() == {"detail": "New password cannot be the same as the current one"}
    r = api.patch("/users/me/password", json={"current_password": "wrong-password",
                                              "new_password": "another-one"},
                  headers=bearer(u["token"]))
    assert r.status_code == 400
    assert r.json() == {"detail": "Incorrect password"}
    r = api.patch("/users/me/password", json={"current_password": u["password"],
                                              "new_password": "short"},
                  headers=bearer(u["token"]))
    assert locs(r) == [["body", "new_password"]]
    r = api.patch("/users/me/password", json={"new_password": "another-one"},
                  headers=bearer(u["token"]))
    assert locs(r) == [["body", "current_password"]]
    # nothing changed: the old password still logs in
    assert login(api, u["email"], u["password"])["access_token"]
    assert_401(api.patch("/users/me/password", json={}))


def test_delete_me(api, superuser_token):
    u = user_with_token(api)
    r = api.delete("/users/me", headers=bearer(u["token"]))
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "User deleted successfully"}
    # the token of a deleted user is a bad token
    assert_401(api.get("/users/me", headers=bearer(u["token"])), BAD_CREDENTIALS)
    r = api.get(f"/users/{u['id']}", headers=bearer(superuser_token))
    assert r.status_code == 404 and r.json() == {"detail": "User not found"}
    r = api.post("/login/access-token", data={"username": u["email"], "password": u["password"]})
    assert r.status_code == 400
    # the address is free again
    assert signup(api, email=u["email"])["id"] != u["id"]


def test_delete_me_superuser_403(api, superuser_token):
    r = api.delete("/users/me", headers=bearer(superuser_token))
    assert r.status_code == 403, r.text
    assert r.json() == {"detail": "Super users are not allowed to delete themselves"}
    assert api.get("/users/me", headers=bearer(superuser_token)).status_code == 200


# --- /users/{id} ------------------------------------------------------------

def test_get_user_by_id(api, superuser_token):
    a = user_with_token(api)
    b = signup(api)
    r = api.get(f"/users/{a['id']}", headers=bearer(a["token"]))
    assert r.status_code == 200 and r.json() == a["public"]
    r = api.get(f"/users/{b['id']}", headers=bearer(a["token"]))
    assert r.status_code == 403 and r.json() == NO_PRIVILEGES
    r = api.get(f"/users/{MISSING_UUID}", headers=bearer(a["token"]))
    assert r.status_code == 403 and r.json() == NO_PRIVILEGES
    r = api.get(f"/users/{b['id']}", headers=bearer(superuser_token))
    assert r.status_code == 200 and r.json() == b["public"]
    r = api.get(f"/users/{MISSING_UUID}", headers=bearer(superuser_token))
    assert r.status_code == 404 and r.json() == {"detail": "User not found"}
    r = api.get("/users/not-a-uuid", headers=bearer(superuser_token))
    assert locs(r) == [["path", "user_id"]]
    assert_401(api.get(f"/users/{a['id']}"))


def test_users_list_superuser_only(api, superuser_token):
    a = user_with_token(api)
    r = api.get("/users/", headers=bearer(a["token"]))
    assert r.status_code == 403 and r.json() == NO_PRIVILEGES
    assert_401(api.get("/users/"))
    b = signup(api)
    r = api.get("/users/", headers=bearer(superuser_token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"data", "count"}
    assert body["count"] >= 3
    for u in body["data"]:
        assert_user_public(u)
    # newest first: b was created after a
    ids = [u["id"] for u in body["data"]]
    assert ids.index(b["id"]) < ids.index(a["id"])
    created = [u["created_at"] for u in body["data"]]
    assert created == sorted(created, reverse=True)
    r = api.get("/users", params={"skip": 0, "limit": 1}, headers=bearer(superuser_token))
    assert r.status_code == 200 and len(r.json()["data"]) == 1
    assert r.json()["count"] == body["count"]
    assert r.json()["data"][0]["id"] == ids[0]
    r = api.get("/users/", params={"skip": 1, "limit": 1}, headers=bearer(superuser_token))
    assert r.json()["data"][0]["id"] == ids[1]


@pytest.mark.parametrize("params,loc", [
    ({"limit": 0}, ["query", "limit"]),
    ({"limit": 1001}, ["query", "limit"]),
    ({"limit": "x"}, ["query", "limit"]),
    ({"skip": -1}, ["query", "skip"]),
    ({"skip": "x"}, ["query", "skip"]),
])
def test_users_list_validation(api, superuser_token, params, loc):
    r = api.get("/users/", params=params, headers=bearer(superuser_token))
    assert locs(r) == [loc]


def test_create_user_superuser(api, superuser_token):
    email = unique_email("Created")
    r = api.post("/users/", json={"email": email, "password": "password-9", "full_name": "C",
                                  "is_superuser": True, "is_active": True},
                 headers=bearer(superuser_token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert_user_public(body, email)
    assert body["is_superuser"] is True and body["full_name"] == "C"
    tok = login(api, email, "password-9")["access_token"]
    # the new superuser can list users
    assert api.get("/users/", headers=bearer(tok)).status_code == 200
    # an inactive one cannot log in
    email2 = unique_email("inactive")
    r = api.post("/users/", json={"email": email2, "password": "password-9", "is_active": False},
                 headers=bearer(superuser_token))
    assert r.status_code == 200 and r.json()["is_active"] is False
    r = api.post("/login/access-token", data={"username": email2, "password": "password-9"})
    assert r.status_code == 400 and r.json() == {"detail": "Inactive user"}


def test_create_user_errors(api, superuser_token):
    a = user_with_token(api)
    r = api.post("/users/", json={"email": unique_email(), "password": "password-9"},
                 headers=bearer(a["token"]))
    assert r.status_code == 403 and r.json() == NO_PRIVILEGES
    assert_401(api.post("/users/", json={"email": unique_email(), "password": "password-9"}))
    # auth before validation
    assert_401(api.post("/users/", json={}))
    r = api.post("/users/", json={}, headers=bearer(a["token"]))
    assert r.status_code == 403
    r = api.post("/users/", json={"email": a["email"].upper(), "password": "password-9"},
                 headers=bearer(superuser_token))
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "The user with this email already exists in the system."}
    r = api.post("/users/", json={"email": "x", "password": "p"}, headers=bearer(superuser_token))
    # FastAPI lists both; one error at a time is acceptable, but email first
    assert locs(r)[0] == ["body", "email"]


def test_update_user_superuser(api, superuser_token):
    u = user_with_token(api)
    new_email = unique_email("upd")
    r = api.patch(f"/users/{u['id']}", json={"email": new_email, "full_name": "By admin",
                                             "is_superuser": True},
                  headers=bearer(superuser_token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert_user_public(body, new_email)
    assert body["full_name"] == "By admin" and body["is_superuser"] is True
    # the user's existing token now carries superuser rights
    assert api.get("/users/", headers=bearer(u["token"])).status_code == 200
    # password change by the superuser: all the user's sessions revoked
    r = api.patch(f"/users/{u['id']}", json={"password": "set-by-admin"},
                  headers=bearer(superuser_token))
    assert r.status_code == 200
    assert_401(api.get("/users/me", headers=bearer(u["token"])), BAD_CREDENTIALS)
    assert login(api, new_email, "set-by-admin")["access_token"]


def test_update_user_errors(api, superuser_token):
    a = user_with_token(api)
    b = signup(api)
    r = api.patch(f"/users/{b['id']}", json={"full_name": "x"}, headers=bearer(a["token"]))
    assert r.status_code == 403 and r.json() == NO_PRIVILEGES
    r = api.patch(f"/users/{a['id']}", json={"is_superuser": True}, headers=bearer(a["token"]))
    assert r.status_code == 403 and r.json() == NO_PRIVILEGES
    assert api.get("/users/me", headers=bearer(a["token"])).json()["is_superuser"] is False
    assert_401(api.patch(f"/users/{b['id']}", json={"full_name": "x"}))
    r = api.patch(f"/users/{a['id']}", json={"email": b["email"].upper()},
                  headers=bearer(superuser_token))
    assert r.status_code == 409, r.text
    assert r.json() == {"detail": "User with this email already exists"}
    r = api.patch(f"/users/{MISSING_UUID}", json={"full_name": "x"}, headers=bearer(superuser_token))
    assert r.status_code == 404
    assert r.json() == {"detail": "The user with this id does not exist in the system"}
    r = api.patch("/users/nope", json={}, headers=bearer(superuser_token))
    assert locs(r) == [["path", "user_id"]]
    r = api.patch(f"/users/{a['id']}", json={"is_active": "yes"}, headers=bearer(superuser_token))
    assert locs(r) == [["body", "is_active"]]
    r = api.patch(f"/users/{a['id']}", json={"password": "short"}, headers=bearer(superuser_token))
    assert locs(r) == [["body", "password"]]


def test_delete_user_cascades_items(api, superuser_token, dba_sql):
    u = user_with_token(api)
    r = api.post("/items/", json={"title": "doomed"}, headers=bearer(u["token"]))
    assert r.status_code == 200, r.text
    item_id = r.json()["id"]
    assert dba_sql("SELECT count(*) FROM pgapp.items WHERE owner_id = :'uid'",
                   variables={"uid": u["id"]}) == "1"
    r = api.delete(f"/users/{u['id']}", headers=bearer(superuser_token))
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "User deleted successfully"}
    r = api.get(f"/items/{item_id}", headers=bearer(superuser_token))
    assert r.status_code == 404 and r.json() == {"detail": "Item not found"}
    assert dba_sql("SELECT count(*) FROM pgapp.items WHERE owner_id = :'uid'",
                   variables={"uid": u["id"]}) == "0"
    assert dba_sql("SELECT count(*) FROM pgapp.sessions WHERE user_id = :'uid'",
                   variables={"uid": u["id"]}) == "0"
    assert_401(api.get("/users/me", headers=bearer(u["token"])), BAD_CREDENTIALS)
    r = api.delete(f"/users/{u['id']}", headers=bearer(superuser_token))
    assert r.status_code == 404 and r.json() == {"detail": "User not found"}


def test_delete_user_errors(api, superuser_token):
    a = user_with_token(api)
    b = signup(api)
    r = api.delete(f"/users/{b['id']}", headers=bearer(a["token"]))
    assert r.status_code == 403 and r.json() == NO_PRIVILEGES
    assert_401(api.delete(f"/users/{b['id']}"))
    me = api.get("/users/me", headers=bearer(superuser_token)).json()
    r = api.delete(f"/users/{me['id']}", headers=bearer(superuser_token))
    assert r.status_code == 403
    assert r.json() == {"detail": "Super users are not allowed to delete themselves"}
    r = api.delete("/users/xyz", headers=bearer(superuser_token))
    assert locs(r) == [["path", "user_id"]]
    # b still exists
    assert api.get(f"/users/{b['id']}", headers=bearer(superuser_token)).status_code == 200


def test_update_me_on_a_fresh_connection(api):
    """PATCH /users/me as the first request of a fresh pool: the handler must
    not depend on what an earlier request left in the backend."""
    import os
    import sys
    import requests
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from gateway_harness import Gateway
    u = user_with_token(api)
    with Gateway(GATEWAY_WORKERS=1) as gw:
        r = requests.patch(gw.url + "/api/v1/users/me", json={"full_name": "Fresh"},
                           headers=bearer(u["token"]), timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["full_name"] == "Fresh"
