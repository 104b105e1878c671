"""GET /api/v1/openapi.json: an OpenAPI 3.1 document generated from the
route catalog, with the full-stack FastAPI template's schema names."""
import re

import jsonschema
import pytest

from conftest import bearer

TEMPLATE_SCHEMAS = {
    "Body_login-login_access_token", "HTTPValidationError", "ItemCreate", "ItemPublic",
    "ItemUpdate", "ItemsPublic", "Message", "NewPassword", "Token", "UpdatePassword",
    "UserCreate", "UserPublic", "UserRegister", "UserUpdate", "UserUpdateMe", "UsersPublic",
    "ValidationError",
}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def doc(api):
    r = api.get("/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


@pytest.fixture(scope="module")
def catalog(dba_sql):
    rows = dba_sql("SELECT method, path, auth FROM api.routes ORDER BY id").splitlines()
    return [tuple(row.split("|")) for row in rows]


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield path, method, op


def refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def test_document_structure(doc):
    assert doc["openapi"] == "3.1.0"
    assert isinstance(doc["info"]["title"], str) and doc["info"]["title"]
    assert isinstance(doc["info"]["version"], str) and doc["info"]["version"]
    assert isinstance(doc["paths"], dict) and doc["paths"]
    assert set(doc) <= {"openapi", "info", "paths", "components", "servers", "tags"}
    for path, method, op in operations(doc):
        assert path.startswith("/api/v1/"), path
        assert method in METHODS, (path, method)
        assert isinstance(op["operationId"], str) and op["operationId"]
        assert isinstance(op["summary"], str) and op["summary"]
        assert "200" in op["responses"]
        for status, response in op["responses"].items():
            assert re.fullmatch(r"[1-5][0-9][0-9]", status)
            assert isinstance(response["description"], str)
            for media in response.get("content", {}).values():
                assert isinstance(media["schema"], dict)
        for p in op.get("parameters", []):
            assert p["in"] in ("path", "query")
            assert isinstance(p["required"], bool)
            assert isinstance(p["schema"], dict)


def test_served_anonymously_with_and_without_slash(api, superuser_token, doc):
    r = api.get("/openapi.json/", allow_redirects=False)
    assert r.status_code == 200 and r.json() == doc
    # A token changes nothing.
    assert api.get("/openapi.json", headers=bearer(superuser_token)).json() == doc


def test_every_catalog_route_is_documented(doc, catalog):
    assert catalog
    documented = {(m.upper(), p) for p, m, _ in operations(doc)}
    assert documented == {(m, p) for m, p, _ in catalog}


def test_security_follows_route_auth(doc, catalog):
    assert doc["components"]["securitySchemes"]["OAuth2PasswordBearer"] == {
        "type": "oauth2",
        "flows": {"password": {"scopes": {}, "tokenUrl": "/api/v1/login/access-token"}},
    }
    for method, path, auth in catalog:
        op = doc["paths"][path][method.lower()]
        if auth == "none":
            assert "security" not in op, (method, path)
        else:
            assert op["security"] == [{"OAuth2PasswordBearer": []}], (method, path)


def test_operation_ids_unique(doc):
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))


def test_path_parameters_declared(doc):
    for path, method, op in operations(doc):
        names = re.findall(r"\{([^}]+)\}", path)
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(names), (path, method)
        for p in op.get("parameters", []):
            if p["in"] == "path":
                assert p["required"] is True


def test_every_ref_resolves(doc):
    schemas = doc["components"]["schemas"]
    found = list(refs(doc))
    assert found
    for ref in found:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref[len("#/components/schemas/"):] in schemas, ref


def test_template_schema_names(doc):
    schemas = doc["components"]["schemas"]
    assert TEMPLATE_SCHEMAS <= set(schemas)
    for name, schema in schemas.items():
        assert schema["title"] == name
        jsonschema.Draft202012Validator.check_schema(schema)
    assert schemas["ItemPublic"]["required"] == ["title", "id", "owner_id"]
    assert set(schemas["ItemPublic"]["properties"]) == {"id", "title", "description", "owner_id", "created_at"}
    assert set(schemas["UserPublic"]["properties"]) == {
        "id", "email", "is_active", "is_superuser", "full_name", "created_at"}
    assert schemas["UserPublic"]["properties"]["email"]["format"] == "email"
    assert schemas["UserPublic"]["properties"]["email"]["maxLength"] == 255
    assert set(schemas["Token"]["properties"]) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert schemas["Token"]["properties"]["token_type"]["default"] == "bearer"
    assert schemas["Message"]["required"] == ["message"]
    assert schemas["ValidationError"]["required"] == ["loc", "msg", "type"]


def test_item_operations(doc):
    items = doc["paths"]["/api/v1/items"]
    item = doc["paths"]["/api/v1/items/{item_id}"]
    expected = {
        ("get", "/api/v1/items"): ("items-read_items", "ItemsPublic", None),
        ("post", "/api/v1/items"): ("items-create_item", "ItemPublic", "ItemCreate"),
        ("get", "/api/v1/items/{item_id}"): ("items-read_item", "ItemPublic", None),
        ("put", "/api/v1/items/{item_id}"): ("items-update_item", "ItemPublic", "ItemUpdate"),
        ("delete", "/api/v1/items/{item_id}"): ("items-delete_item", "Message", None),
    }
    for (method, path), (op_id, response, request) in expected.items():
        op = (items if path == "/api/v1/items" else item)[method]
        assert op["operationId"] == op_id
        assert op["tags"] == ["items"]
        assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{response}"}
        assert op["responses"]["422"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/HTTPValidationError"}
        if request:
            assert op["requestBody"]["required"] is True
            assert op["requestBody"]["content"]["application/json"]["schema"] == {
                "$ref": f"#/components/schemas/{request}"}
        else:
            assert "requestBody" not in op
    params = {p["name"]: p for p in items["get"]["parameters"]}
    assert params["skip"] == {"name": "skip", "in": "query", "required": False,
                              "schema": {"type": "integer", "default": 0, "title": "Skip"}}
    assert params["limit"]["schema"]["default"] == 100
    [item_id] = item["get"]["parameters"]
    assert item_id == {"name": "item_id", "in": "path", "required": True,
                       "schema": {"type": "string", "format": "uuid", "title": "Item Id"}}


def test_login_is_a_form(doc):
    login = doc["paths"].get("/api/v1/login/access-token", {}).get("post")
    assert login is not None
    assert "security" not in login
    content = login["requestBody"]["content"]
    assert set(content) == {"application/x-www-form-urlencoded"}
    assert content["application/x-www-form-urlencoded"]["schema"] == {
        "$ref": "#/components/schemas/Body_login-login_access_token"}


def test_responses_match_their_schemas(api, doc, new_user):
    """Live answers validate against the document's own schemas."""
    resolver = jsonschema.RefResolver.from_schema(doc)

    def check(body, name):
        jsonschema.validate(body, {"$ref": f"#/components/schemas/{name}"}, resolver=resolver,
                            cls=jsonschema.Draft202012Validator)

    h = bearer(new_user["token"])
    r = api.post("/items/", json={"title": "schema", "description": None}, headers=h)
    check(r.json(), "ItemPublic")
    check(api.get("/items/", headers=h).json(), "ItemsPublic")
    check(api.get("/users/me", headers=h).json(), "UserPublic")
    check(api.delete(f"/items/{r.json()['id']}", headers=h).json(), "Message")
    check(api.get("/items/", params={"limit": 0}, headers=h).json(), "HTTPValidationError")
