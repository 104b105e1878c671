"""The gateway's own HTTP behaviour against the live system (base_url):
route match, 404/405 + Allow, trailing slashes, path decoding, /live,
/ready, X-Request-Id, the media types and form fields that reach the
dispatcher.  Routes used are those of SPEC §5."""
import re

import requests

from conftest import bearer
from gateway_harness import raw_request

API = "/api/v1"


def get(base_url, path, **kw):
    kw.setdefault("timeout", 10)
    return requests.get(base_url + path, **kw)


def test_live(base_url):
    r = get(base_url, "/live")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_ready(base_url):
    r = get(base_url, "/ready")
    assert r.status_code == 200


def test_unknown_path_is_404_json(base_url):
    r = get(base_url, API + "/no-such-thing")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}
    assert r.headers["Content-Type"].startswith("application/json")


def test_unknown_root_path_is_404(base_url):
    assert get(base_url, "/nothing-here").status_code == 404


def test_wrong_method_is_405_with_allow(base_url):
    r = requests.delete(base_url + API + "/utils/health-check/", timeout=10)
    assert r.status_code == 405
    assert r.json() == {"detail": "Method Not Allowed"}
    assert r.headers["Allow"] == "GET"


def test_405_allow_lists_every_matching_pattern(base_url):
    # /users/me (GET, PATCH, DELETE) and /users/{id} (GET, PATCH, DELETE)
    r = requests.put(base_url + API + "/users/me", timeout=10)
    assert r.status_code == 405
    allow = [m.strip() for m in r.headers["Allow"].split(",")]
    assert set(allow) == {"GET", "PATCH", "DELETE"}
    assert "PUT" not in allow


def test_405_on_collection(base_url):
    r = requests.delete(base_url + API + "/items/", timeout=10)
    assert r.status_code == 405
    assert set(m.strip() for m in r.headers["Allow"].split(",")) == {"GET", "POST"}


def test_trailing_slash_both_forms_no_redirect(base_url):
    for path in (API + "/utils/health-check/", API + "/utils/health-check"):
        r = get(base_url, path, allow_redirects=False)
        assert r.status_code == 200, path
        assert r.json() is True


def test_parameter_route_matches_one_segment(base_url):
    # no token: the route exists, so the extension answers 401, not 404
    assert get(base_url, API + "/items/123").status_code == 401
    assert get(base_url, API + "/items/123/").status_code == 401
    assert get(base_url, API + "/items/123/extra").status_code == 404


def test_literal_beats_parameter(base_url):
    # POST exists only on the literal /users/signup: reaching it is not 405
    r = requests.post(base_url + API + "/users/signup", json={}, timeout=10)
    assert r.status_code not in (404, 405)


def test_valid_escape_in_path_works(base_url):
    # %40 decodes to "@": routed to /items/{id}, so 401 (auth comes first)
    r = raw_request(base_url, b"GET /api/v1/items/a%40b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r[0] == 401


def test_encoded_nul_in_path_is_400(base_url):
    status, headers, body = raw_request(
        base_url, b"GET /api/v1/items/a%00b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 400
    assert b"Invalid path" in body


def test_invalid_escapes_are_400(base_url):
    for target in (b"/api/v1/items/a%zz", b"/api/v1/items/a%4", b"/api/v1/items/%",
                   b"/api/v1/items/a%0d%0aX", b"/api/v1/items/a%7f",
                   b"/api/v1/items/%C3%28", b"/api/v1/utils/health-check%00/"):
        status, _, body = raw_request(
            base_url, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status == 400, target
        assert body.startswith(b"{"), target


def test_request_id_on_every_response(base_url):
    seen = set()
    for method, path in (("GET", "/live"), ("GET", API + "/nope"),
                         ("DELETE", API + "/utils/health-check/"),
                         ("GET", API + "/items/")):
        r = requests.request(method, base_url + path, timeout=10)
        rid = r.headers.get("X-Request-Id")
        assert rid and re.fullmatch(r"[0-9a-f]{16}", rid), (method, path)
        seen.add(rid)
    assert len(seen) == 4


def test_request_id_in_access_log(base_url, gateway_log):
    import time
    r = get(base_url, API + "/no-such-route-for-log")
    rid = r.headers["X-Request-Id"]
    deadline = time.monotonic() + 5
    line = None
    while time.monotonic() < deadline and line is None:
        with open(gateway_log, encoding="utf-8", errors="replace") as f:
            line = next((l for l in f if f"rid={rid}" in l), None)
        time.sleep(0.05)
    assert line is not None
    assert "status=404" in line and "method=GET" in line


def test_authorization_never_logged(base_url, gateway_log):
    import time
    secret = "Bearer never-log-me-7f3a"
    r = get(base_url, API + "/items/", headers={"Authorization": secret})
    rid = r.headers["X-Request-Id"]
    time.sleep(0.3)
    with open(gateway_log, encoding="utf-8", errors="replace") as f:
        text = f.read()
    assert f"rid={rid}" in text
    assert "never-log-me-7f3a" not in text


def test_head_is_get_without_body(base_url):
    r = requests.head(base_url + API + "/utils/health-check/", timeout=10)
    assert r.status_code == 200
    assert r.content == b""


def test_json_media_types_as_fastapi(base_url, new_user):
    """application/json or application/*+json, any case, parameters
    ignored, is a JSON body; another media type is 415."""
    url = base_url + API + "/users/me"
    auth = bearer(new_user["token"])
    for ctype in ("application/merge-patch+json", "Application/VND.API+JSON; charset=utf-8"):
        r = requests.patch(url, data='{"full_name": "Merge Patch"}',
                           headers={**auth, "Content-Type": ctype}, timeout=10)
        assert r.status_code == 200, (ctype, r.text)
        assert r.json()["full_name"] == "Merge Patch"
    for ctype in ("text/json", "application/jsonx", "application/json+xml"):
        r = requests.patch(url, data='{"full_name": "Nope"}',
                           headers={**auth, "Content-Type": ctype}, timeout=10)
        assert r.status_code == 415, (ctype, r.text)
        assert r.json() == {"detail": "Unsupported Media Type"}


def test_empty_form_field_is_missing_as_fastapi(base_url, new_user):
    """FastAPI reads an empty form field as one not sent: 422 at the
    field, not a failed login."""
    r = requests.post(base_url + API + "/login/access-token",
                      data={"username": new_user["email"], "password": ""}, timeout=10)
    assert r.status_code == 422, r.text
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "password"]]
    assert r.json()["detail"][0]["type"] == "missing"
    # an empty optional field takes its default: grant_type= logs in
    r = requests.post(base_url + API + "/login/access-token",
                      data={"username": new_user["email"], "password": new_user["password"],
                            "grant_type": ""}, timeout=10)
    assert r.status_code == 200, r.text
