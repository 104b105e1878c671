"""Items over HTTP (SPEC §5): every route and status, isolation between
users, the superuser's reach, pagination, FastAPI's 422 bodies, auth before
validation, cascade on user deletion, trailing-slash variants."""
import uuid
from datetime import datetime

import pytest

from conftest import bearer, login

ITEM_KEYS = {"id", "title", "description", "owner_id", "created_at"}
NOT_FOUND = {"detail": "Item not found"}
MISSING_UUID = "00000000-0000-0000-0000-000000000000"


def make_user(api, superuser_token):
    """A fresh active user (new_user's recipe, callable more than once)."""
    email = f"items-{uuid.uuid4().hex[:12]}@example.com"
    password = "pw-" + uuid.uuid4().hex
    r = api.post("/users/", json={"email": email, "password": password},
                 headers=bearer(superuser_token))
    assert r.status_code == 200, r.text
    return {"email": email, "id": r.json()["id"],
            "token": login(api, email, password)["access_token"]}


@pytest.fixture
def other_user(api, superuser_token):
    return make_user(api, superuser_token)


def create(api, token, title="an item", **extra):
    r = api.post("/items/", json={"title": title, **extra}, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


def titles(body):
    return [i["title"] for i in body["data"]]


def error(type_, loc, msg, input_, ctx=None):
    e = {"type": type_, "loc": loc, "msg": msg, "input": input_}
    if ctx is not None:
        e["ctx"] = ctx
    return e


# --- create and read ------------------------------------------------------

def test_create_returns_item_public(api, new_user):
    r = api.post("/items/", json={"title": "Milk", "description": "2 litres"},
                 headers=bearer(new_user["token"]))
    assert r.status_code == 200, r.text
    item = r.json()
    assert set(item) == ITEM_KEYS
    assert item["title"] == "Milk" and item["description"] == "2 litres"
    assert item["owner_id"] == new_user["id"]
    uuid.UUID(item["id"])
    datetime.fromisoformat(item["created_at"])
    r = api.get(f"/items/{item['id']}", headers=bearer(new_user["token"]))
    assert r.status_code == 200
    assert r.json() == item


def test_create_description_optional_and_extra_keys_ignored(api, new_user):
    item = create(api, new_user["token"], "No description", owner_id=MISSING_UUID,
                  id=MISSING_UUID, confirm=True)
    assert item["description"] is None
    assert item["owner_id"] == new_user["id"]
    assert item["id"] != MISSING_UUID
    item = create(api, new_user["token"], "Null description", description=None)
    assert item["description"] is None


def test_lengths_are_characters(api, new_user):
    item = create(api, new_user["token"], "é" * 255, description="ü" * 255)
    assert item["title"] == "é" * 255 and item["description"] == "ü" * 255


def test_read_unknown_item_is_404(api, new_user):
    r = api.get(f"/items/{uuid.uuid4()}", headers=bearer(new_user["token"]))
    assert r.status_code == 404
    assert r.json() == NOT_FOUND


# --- list and pagination --------------------------------------------------

def test_list_newest_first_with_count(api, new_user):
    token = new_user["token"]
    for t in ("first", "second", "third"):
        create(api, token, t)
    r = api.get("/items/", headers=bearer(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"data", "count"}
    assert titles(body) == ["third", "second", "first"]
    assert body["count"] == 3
    assert all(set(i) == ITEM_KEYS for i in body["data"])


def test_list_default_limit_is_100(api, new_user):
    token = new_user["token"]
    for n in range(101):
        create(api, token, "item %d" % n)
    r = api.get("/items/", headers=bearer(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 101 and len(body["data"]) == 100
    assert body["data"][0]["title"] == "item 100" and body["data"][-1]["title"] == "item 1"


def test_list_of_new_user_is_empty(api, new_user):
    r = api.get("/items/", headers=bearer(new_user["token"]))
    assert r.status_code == 200
    assert r.json() == {"data": [], "count": 0}


def test_pagination_edges(api, new_user):
    token = new_user["token"]
    for t in ("a", "b", "c"):
        create(api, token, t)

    def page(**params):
        r = api.get("/items/", params=params, headers=bearer(token))
        assert r.status_code == 200, r.text
        return r.json()

    assert titles(page(skip=1, limit=1)) == ["b"]
    assert titles(page(skip=2)) == ["a"]
    assert page(skip=3) == {"data": [], "count": 3}
    assert page(skip=1000000, limit=1000) == {"data": [], "count": 3}
    assert titles(page(limit=1)) == ["c"]
    assert titles(page(limit=1000)) == ["c", "b", "a"]
    assert titles(page(skip=0, limit=2)) == ["c", "b"]
    assert page(limit=2)["count"] == 3


@pytest.mark.parametrize("params, expected", [
    ({"limit": "1001"}, error("less_than_equal", ["query", "limit"],
                              "Input should be less than or equal to 1000", "1001", {"le": 1000})),
    ({"limit": "0"}, error("greater_than_equal", ["query", "limit"],
                           "Input should be greater than or equal to 1", "0", {"ge": 1})),
    ({"skip": "-1"}, error("greater_than_equal", ["query", "skip"],
                           "Input should be greater than or equal to 0", "-1", {"ge": 0})),
])
def test_pagination_bounds_422(api, new_user, params, expected):
    r = api.get("/items/", params=params, headers=bearer(new_user["token"]))
    assert r.status_code == 422, r.text
    assert r.json() == {"detail": [expected]}


@pytest.mark.parametrize("name, value", [("skip", "abc"), ("limit", "1.5"), ("limit", "")])
def test_pagination_not_integer_422(api, new_user, name, value):
    r = api.get("/items/", params={name: value}, headers=bearer(new_user["token"]))
    assert r.status_code == 422, r.text
    assert r.json() == {"detail": [error(
        "int_parsing", ["query", name],
        "Input should be a valid integer, unable to parse string as an integer", value)]}


# --- validation of bodies -------------------------------------------------

@pytest.mark.parametrize("body, expected", [
    ({"description": "x"}, error("missing", ["body", "title"], "Field required", {"description": "x"})),
    ({"title": ""}, error("string_too_short", ["body", "title"],
                          "String should have at least 1 character", "", {"min_length": 1})),
    ({"title": "t" * 256}, error("string_too_long", ["body", "title"],
                                 "String should have at most 255 characters", "t" * 256,
                                 {"max_length": 255})),
    ({"title": "ok", "description": "d" * 256},
     error("string_too_long", ["body", "description"],
           "String should have at most 255 characters", "d" * 256, {"max_length": 255})),
    ({"title": None}, error("string_type", ["body", "title"], "Input should be a valid string", None)),
    ({"title": 123}, error("string_type", ["body", "title"], "Input should be a valid string", 123)),
    ({"title": "ok", "description": ["x"]},
     error("string_type", ["body", "description"], "Input should be a valid string", ["x"])),
])
def test_create_422(api, new_user, body, expected):
    r = api.post("/items/", json=body, headers=bearer(new_user["token"]))
    assert r.status_code == 422, r.text
    assert r.json() == {"detail": [expected]}


def test_create_422_lists_every_error(api, new_user):
    r = api.post("/items/", json={"title": "", "description": "d" * 256},
                 headers=bearer(new_user["token"]))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert [(e["type"], e["loc"]) for e in detail] == [
        ("string_too_short", ["body", "title"]), ("string_too_long", ["body", "description"])]


def test_create_without_body_422(api, new_user):
    r = api.post("/items/", headers=bearer(new_user["token"]))
    assert r.status_code == 422, r.text
    assert r.json() == {"detail": [error("missing", ["body"], "Field required", None)]}


def test_create_invalid_json_422(api, new_user):
    r = api.post("/items/", data="{not json", headers={
        **bearer(new_user["token"]), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail[0]["loc"][0] == "body"
    assert detail[0]["type"] == "json_invalid"


def test_bad_item_id_422(api, new_user):
    for method in ("get", "put", "delete"):
        r = api.request(method, "/items/not-a-uuid", json={"title": "x"},
                        headers=bearer(new_user["token"]))
        assert r.status_code == 422, (method, r.text)
        [e] = r.json()["detail"]
        assert e["type"] == "uuid_parsing"
        assert e["loc"] == ["path", "item_id"]
        assert e["input"] == "not-a-uuid"
        assert e["msg"].startswith("Input should be a valid UUID")


# --- update ---------------------------------------------------------------

def test_update_is_partial(api, new_user):
    token = new_user["token"]
    item = create(api, token, "before", description="kept")
    url = f"/items/{item['id']}"
    r = api.put(url, json={"title": "after"}, headers=bearer(token))
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["title"] == "after" and updated["description"] == "kept"
    assert {k: updated[k] for k in ("id", "owner_id", "created_at")} == \
        {k: item[k] for k in ("id", "owner_id", "created_at")}
    r = api.put(url, json={"description": "changed"}, headers=bearer(token))
    assert r.json()["title"] == "after" and r.json()["description"] == "changed"
    r = api.put(url, json={"description": None}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["description"] is None
    r = api.put(url, json={}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["title"] == "after"
    r = api.put(url, json={"title": "x", "owner_id": MISSING_UUID, "id": MISSING_UUID, "extra": 1},
                headers=bearer(token))
    assert r.status_code == 200
    assert r.json()["owner_id"] == new_user["id"] and r.json()["id"] == item["id"]
    assert api.get(url, headers=bearer(token)).json()["title"] == "x"


@pytest.mark.parametrize("body, expected", [
    ({"title": None}, error("string_type", ["body", "title"], "Input should be a valid string", None)),
    ({"title": 5}, error("string_type", ["body", "title"], "Input should be a valid string", 5)),
    ({"title": ""}, error("string_too_short", ["body", "title"],
                          "String should have at least 1 character", "", {"min_length": 1})),
    ({"description": "d" * 256}, error("string_too_long", ["body", "description"],
                                       "String should have at most 255 characters", "d" * 256,
                                       {"max_length": 255})),
    ([{"title": "x"}], error("model_attributes_type", ["body"],
                             "Input should be a valid dictionary or object to extract fields from",
                             [{"title": "x"}])),
    ("title", error("model_attributes_type", ["body"],
                    "Input should be a valid dictionary or object to extract fields from", "title")),
])
def test_update_422(api, new_user, body, expected):
    item = create(api, new_user["token"])
    r = api.put(f"/items/{item['id']}", json=body, headers=bearer(new_user["token"]))
    assert r.status_code == 422, r.text
    assert r.json() == {"detail": [expected]}
    assert api.get(f"/items/{item['id']}", headers=bearer(new_user["token"])).json() == item


def test_update_without_body_422(api, new_user):
    item = create(api, new_user["token"])
    r = api.put(f"/items/{item['id']}", headers=bearer(new_user["token"]))
    assert r.status_code == 422, r.text
    assert r.json() == {"detail": [error("missing", ["body"], "Field required", None)]}


def test_update_unknown_item(api, new_user):
    token = new_user["token"]
    r = api.put(f"/items/{uuid.uuid4()}", json={"title": "x"}, headers=bearer(token))
    assert r.status_code == 404 and r.json() == NOT_FOUND
    # The body is validated first, as FastAPI does.
    r = api.put(f"/items/{uuid.uuid4()}", json={"title": ""}, headers=bearer(token))
    assert r.status_code == 422


# --- delete ---------------------------------------------------------------

def test_delete(api, new_user):
    token = new_user["token"]
    item = create(api, token)
    r = api.delete(f"/items/{item['id']}", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Item deleted successfully"}
    assert api.get(f"/items/{item['id']}", headers=bearer(token)).status_code == 404
    r = api.delete(f"/items/{item['id']}", headers=bearer(token))
    assert r.status_code == 404 and r.json() == NOT_FOUND
    assert api.get("/items/", headers=bearer(token)).json()["count"] == 0


# --- authentication -------------------------------------------------------

ROUTES = [("get", "/items/", None), ("post", "/items/", {"title": "x"}),
          ("get", f"/items/{MISSING_UUID}", None), ("put", f"/items/{MISSING_UUID}", {"title": "x"}),
          ("delete", f"/items/{MISSING_UUID}", None)]


@pytest.mark.parametrize("method, path, body", ROUTES)
def test_no_token_401(api, method, path, body):
    r = api.request(method, path, json=body)
    assert r.status_code == 401, r.text
    assert r.json() == {"detail": "Not authenticated"}
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("method, path, body", ROUTES)
def test_bad_token_401(api, method, path, body):
    r = api.request(method, path, json=body, headers=bearer("not.a.jwt"))
    assert r.status_code == 401, r.text
    assert r.json() == {"detail": "Could not validate credentials"}


@pytest.mark.parametrize("method, path, kwargs", [
    ("post", "/items/", {"json": {"title": ""}}),
    ("post", "/items/", {}),
    ("get", "/items/", {"params": {"limit": "5000"}}),
    ("get", "/items/not-a-uuid", {}),
    ("put", "/items/not-a-uuid", {"json": [1]}),
    ("delete", "/items/not-a-uuid", {}),
])
def test_authentication_before_validation(api, method, path, kwargs):
    r = api.request(method, path, **kwargs)
    assert r.status_code == 401, r.text
    assert r.json() == {"detail": "Not authenticated"}


def test_deleted_user_token_401(api, superuser_token):
    user = make_user(api, superuser_token)
    create(api, user["token"])
    r = api.delete(f"/users/{user['id']}", headers=bearer(superuser_token))
    assert r.status_code == 200, r.text
    r = api.get("/items/", headers=bearer(user["token"]))
    assert r.status_code == 401
    assert r.json() == {"detail": "Could not validate credentials"}


# --- isolation ------------------------------------------------------------

def test_users_cannot_reach_each_others_items(api, new_user, other_user):
    a, b = new_user, other_user
    item_a = create(api, a["token"], "of a")
    item_b = create(api, b["token"], "of b")
    for me, theirs in ((a, item_b), (b, item_a)):
        url = f"/items/{theirs['id']}"
        h = bearer(me["token"])
        assert api.get(url, headers=h).json() == NOT_FOUND
        r = api.put(url, json={"title": "stolen"}, headers=h)
        assert r.status_code == 404 and r.json() == NOT_FOUND
        r = api.delete(url, headers=h)
        assert r.status_code == 404 and r.json() == NOT_FOUND
        listing = api.get("/items/", params={"limit": 1000}, headers=h).json()
        assert theirs["id"] not in [i["id"] for i in listing["data"]]
        assert listing["count"] == 1
    # Nothing changed.
    assert api.get(f"/items/{item_a['id']}", headers=bearer(a["token"])).json() == item_a
    assert api.get(f"/items/{item_b['id']}", headers=bearer(b["token"])).json() == item_b


def test_superuser_reaches_every_item(api, new_user, superuser_token, dba_sql):
    su = bearer(superuser_token)
    item = create(api, new_user["token"], "user's")
    listing = api.get("/items/", params={"limit": 1000}, headers=su).json()
    assert listing["count"] == int(dba_sql("SELECT count(*) FROM pgapp.items"))
    r = api.get(f"/items/{item['id']}", headers=su)
    assert r.status_code == 200 and r.json() == item
    r = api.put(f"/items/{item['id']}", json={"description": "by admin"}, headers=su)
    assert r.status_code == 200
    assert r.json()["description"] == "by admin"
    assert r.json()["owner_id"] == new_user["id"]
    own = create(api, superuser_token, "admin's")
    assert own["owner_id"] != new_user["id"]
    assert api.get(f"/items/{own['id']}", headers=bearer(new_user["token"])).status_code == 404
    r = api.delete(f"/items/{item['id']}", headers=su)
    assert r.status_code == 200
    assert api.get(f"/items/{item['id']}", headers=bearer(new_user["token"])).status_code == 404
    assert api.delete(f"/items/{own['id']}", headers=su).status_code == 200


def test_user_deletion_cascades_to_items(api, superuser_token, dba_sql):
    user = make_user(api, superuser_token)
    keep = make_user(api, superuser_token)
    for t in ("one", "two"):
        create(api, user["token"], t)
    kept = create(api, keep["token"], "kept")
    count = "SELECT count(*) FROM pgapp.items WHERE owner_id = :'id'"
    assert dba_sql(count, variables={"id": user["id"]}) == "2"
    r = api.delete(f"/users/{user['id']}", headers=bearer(superuser_token))
    assert r.status_code == 200, r.text
    assert dba_sql(count, variables={"id": user["id"]}) == "0"
    assert api.get(f"/items/{kept['id']}", headers=bearer(keep["token"])).status_code == 200


# --- paths ----------------------------------------------------------------

def test_trailing_slash_variants(api, new_user):
    h = bearer(new_user["token"])
    r = api.post("/items", json={"title": "no slash"}, headers=h)
    assert r.status_code == 200, r.text
    item = r.json()
    r = api.post("/items/", json={"title": "slash"}, headers=h)
    assert r.status_code == 200
    for path in ("/items", "/items/"):
        r = api.get(path, headers=h, allow_redirects=False)
        assert r.status_code == 200 and r.json()["count"] == 2
    for suffix in ("", "/"):
        url = f"/items/{item['id']}{suffix}"
        r = api.get(url, headers=h, allow_redirects=False)
        assert r.status_code == 200 and r.json()["id"] == item["id"]
        r = api.put(url, json={"title": "renamed" + suffix}, headers=h, allow_redirects=False)
        assert r.status_code == 200 and r.json()["title"] == "renamed" + suffix
    r = api.delete(f"/items/{item['id']}/", headers=h, allow_redirects=False)
    assert r.status_code == 200


def test_wrong_method_405(api, new_user):
    r = api.patch(f"/items/{MISSING_UUID}", json={}, headers=bearer(new_user["token"]))
    assert r.status_code == 405
    assert r.json() == {"detail": "Method Not Allowed"}
    assert set(m.strip() for m in r.headers["Allow"].split(",")) >= {"GET", "PUT", "DELETE"}
