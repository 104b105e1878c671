"""JWT attacks over HTTP (SPEC §8, RFC 8725).  Tokens are forged with a key
of our own, added through SQL and backdated so that it verifies but never
signs the other tests' tokens; retired at the end.  A control token made
the same way is accepted, so each refusal is the attack's doing.  Every
attack gets the same 401 {"detail": "Could not validate credentials"}."""
import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt  # PyJWT
import pytest

from conftest import bearer, jwt_part, login

BAD = {"detail": "Could not validate credentials"}


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(signing_input, secret, alg="HS256"):
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    return b64u(hmac.new(secret.encode(), signing_input.encode(), digest).digest())


def raw_token(header, payload, secret, alg="HS256"):
    """header/payload: dict (compact JSON) or str (exact bytes)."""
    h = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    p = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    si = b64u(h) + "." + b64u(p)
    return si + "." + sign(si, secret, alg)


@pytest.fixture(scope="module")
def forge_key(dba_sql):
    """(kid, secret) of a key that verifies; the real signing key stays."""
    secret = "forge-" + uuid.uuid4().hex + uuid.uuid4().hex
    kid = dba_sql("SELECT pgapp.key_add(:'s')", variables={"s": secret})
    dba_sql("UPDATE pgapp.signing_keys SET created_at = '2000-01-01' WHERE kid = :'k'",
            variables={"k": kid})
    assert dba_sql("SELECT signing FROM pgapp.keys WHERE kid = :'k'", variables={"k": kid}) == "f"
    yield kid, secret
    dba_sql("SELECT pgapp.key_retire(:'k')", variables={"k": kid})


@pytest.fixture
def victim(api, superuser_token, dba_sql):
    email = f"jwt-{uuid.uuid4().hex[:12]}@example.com"
    password = "pw-" + uuid.uuid4().hex
    r = api.post("/users/", json={"email": email, "password": password},
                 headers=bearer(superuser_token))
    assert r.status_code == 200, r.text
    uid = r.json()["id"]
    tokens = login(api, email, password)
    sid = dba_sql("SELECT id FROM pgapp.sessions WHERE user_id = :'u' AND revoked_at IS NULL",
                  variables={"u": uid})
    return {"id": uid, "sid": sid, "email": email, "password": password, **tokens}


def claims(victim, **over):
    now = int(time.time())
    c = {"sub": victim["id"], "sid": victim["sid"], "iat": now, "exp": now + 600,
         "jti": uuid.uuid4().hex}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def good(forge_key, victim, **over):
    kid, secret = forge_key
    return jwt.encode(claims(victim, **over), secret, algorithm="HS256",
                      headers={"kid": kid, "typ": "JWT"})


def assert_refused(api, token):
    r = api.get("/users/me", headers=bearer(token))
    assert r.status_code == 401, (token[:200], r.status_code, r.text)
    assert r.json() == BAD
    assert r.headers.get("WWW-Authenticate") == 'Bearer error="invalid_token"'
    # the same on another route
    r = api.get("/items/", headers=bearer(token))
    assert r.status_code == 401 and r.json() == BAD


def assert_accepted(api, token, victim):
    r = api.get("/users/me", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == victim["id"]


def test_control_forged_token_is_accepted(api, forge_key, victim):
    assert_accepted(api, good(forge_key, victim), victim)
    assert_accepted(api, victim["access_token"], victim)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none(api, forge_key, victim, alg):
    kid, _ = forge_key
    si = b64u(json.dumps({"alg": alg, "typ": "JWT", "kid": kid})) + "." + b64u(json.dumps(claims(victim)))
    assert_refused(api, si + ".")
    assert_refused(api, si)
    assert_refused(api, si + "." + sign(si, forge_key[1]))


@pytest.mark.parametrize("alg", ["HS384", "HS512", "hs256", "Hs256", "RS256", "ES256", "PS256", ""])
def test_algorithm_confusion(api, forge_key, victim, alg):
    kid, secret = forge_key
    header = {"alg": alg, "typ": "JWT", "kid": kid}
    sign_alg = alg if alg in ("HS384", "HS512") else "HS256"
    assert_refused(api, raw_token(header, claims(victim), secret, sign_alg))


def test_alg_missing_or_not_a_string(api, forge_key, victim):
    kid, secret = forge_key
    assert_refused(api, raw_token({"typ": "JWT", "kid": kid}, claims(victim), secret))
    assert_refused(api, raw_token({"alg": ["HS256"], "kid": kid}, claims(victim), secret))
    assert_refused(api, raw_token({"alg": None, "kid": kid}, claims(victim), secret))


@pytest.mark.parametrize("kid", [None, "", "nope", "../../x", "../../../etc/passwd", "' OR 1=1 --",
                                 "x' UNION SELECT secret FROM pgapp.signing_keys --", "%00",
                                 "\u0000", 1, True, {"kid": "x"}, "A" * 200])
def test_kid_missing_foreign_injected(api, forge_key, victim, kid):
    _, secret = forge_key
    header = {"alg": "HS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    assert_refused(api, raw_token(header, claims(victim), secret))


def test_kid_of_the_real_key_with_our_secret(api, forge_key, victim, dba_sql):
    real = dba_sql("SELECT kid FROM pgapp.keys WHERE signing")
    _, secret = forge_key
    assert_refused(api, raw_token({"alg": "HS256", "typ": "JWT", "kid": real}, claims(victim), secret))


def test_retired_key(api, victim, dba_sql):
    secret = "retired-" + uuid.uuid4().hex + uuid.uuid4().hex
    kid = dba_sql("SELECT pgapp.key_add(:'s')", variables={"s": secret})
    dba_sql("UPDATE pgapp.signing_keys SET created_at = '2000-01-01' WHERE kid = :'k'", variables={"k": kid})
    token = jwt.encode(claims(victim), secret, algorithm="HS256", headers={"kid": kid})
    assert_accepted(api, token, victim)
    dba_sql("SELECT pgapp.key_retire(:'k')", variables={"k": kid})
    assert_refused(api, token)


def test_unknown_crit_header(api, forge_key, victim):
    kid, secret = forge_key
    assert_refused(api, raw_token({"alg": "HS256", "kid": kid, "crit": ["exp"], "exp": 1},
                                  claims(victim), secret))
    assert_refused(api, raw_token({"alg": "HS256", "kid": kid, "crit": ["x-custom"], "x-custom": 1},
                                  claims(victim), secret))


def test_tampered_header_payload_signature(api, forge_key, victim, superuser_token):
    token = good(forge_key, victim)
    h, p, s = token.split(".")
    other_header = b64u(json.dumps({"alg": "HS256", "typ": "JOSE", "kid": forge_key[0]}))
    assert_refused(api, f"{other_header}.{p}.{s}")
    payload = jwt_part(token, 1)
    payload["exp"] += 3600
    assert_refused(api, f"{h}.{b64u(json.dumps(payload))}.{s}")
    # someone else's identity under the victim's signature
    me = api.get("/users/me", headers=bearer(superuser_token)).json()
    payload["sub"] = me["id"]
    assert_refused(api, f"{h}.{b64u(json.dumps(payload))}.{s}")
    # signature: one character changed, truncated, emptied, doubled
    flipped = ("A" if s[0] != "A" else "B") + s[1:]
    assert_refused(api, f"{h}.{p}.{flipped}")
    assert_refused(api, f"{h}.{p}.{s[:-1]}")
    assert_refused(api, f"{h}.{p}.{s[:20]}")
    assert_refused(api, f"{h}.{p}.")
    assert_refused(api, f"{h}.{p}.{s}{s}")
    # the real token's signature on the forged content
    rh, rp, rs = victim["access_token"].split(".")
    assert_refused(api, f"{h}.{p}.{rs}")
    assert_refused(api, f"{rh}.{p}.{rs}")


def bump_trailing_bits(seg):
    """The same decoded bytes with a different last character (non-canonical)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    rem = len(seg) % 4
    unused = {2: 4, 3: 2}[rem]
    i = alphabet.index(seg[-1])
    assert i % (1 << unused) == 0, "canonical encoders leave the unused bits zero"
    return seg[:-1] + alphabet[i + 1]


def test_non_canonical_base64url(api, forge_key, victim):
    kid, secret = forge_key
    # signature: 32 bytes -> 43 characters, 2 unused bits
    token = good(forge_key, victim)
    h, p, s = token.split(".")
    assert len(s) % 4 != 0
    bumped = bump_trailing_bits(s)
    assert base64.urlsafe_b64decode(bumped + "=") == base64.urlsafe_b64decode(s + "=")
    assert_refused(api, f"{h}.{p}.{bumped}")
    # header and payload with unused bits set, correctly signed over the new text
    for pad_len in range(3):
        c = claims(victim, jti="j" * (10 + pad_len))
        hh = b64u(json.dumps({"alg": "HS256", "kid": kid}))
        pp = b64u(json.dumps(c))
        if len(pp) % 4:
            si = f"{hh}.{bump_trailing_bits(pp)}"
            assert_refused(api, si + "." + sign(si, secret))
        if len(hh) % 4:
            si = f"{bump_trailing_bits(hh)}.{pp}"
            assert_refused(api, si + "." + sign(si, secret))
    # a control: the same construction, canonical, is accepted
    si = f"{b64u(json.dumps({'alg': 'HS256', 'kid': kid}))}.{b64u(json.dumps(claims(victim)))}"
    assert_accepted(api, si + "." + sign(si, secret), victim)


def test_padding_and_standard_alphabet(api, forge_key, victim):
    kid, secret = forge_key
    for attempt in range(20):
        token = good(forge_key, victim, jti=uuid.uuid4().hex + "x" * attempt)
        h, p, s = token.split(".")
        if len(p) % 4 and len(h) % 4:
            break
    # '=' padding on each segment (signature recomputed over padded input)
    assert_refused(api, f"{h}.{p}.{s}" + "=" * (-len(s) % 4))
    si = f"{h}.{p}" + "=" * (-len(p) % 4)
    assert_refused(api, si + "." + sign(si, secret))
    si = f"{h}" + "=" * (-len(h) % 4) + f".{p}"
    assert_refused(api, si + "." + sign(si, secret))
    # standard base64 alphabet instead of base64url
    for _ in range(50):
        token = good(forge_key, victim, jti=uuid.uuid4().hex)
        h, p, s = token.split(".")
        if "-" in s or "_" in s:
            std = s.replace("-", "+").replace("_", "/")
            assert_refused(api, f"{h}.{p}.{std}")
            break
    else:
        pytest.fail("no signature with - or _ in 50 tries")
    # whitespace and percent-encoding inside
    assert_refused(api, f"{h}.{p}.{s[:10]} {s[10:]}")
    assert_refused(api, f"{h}.{p}%2E{s}")


def test_segment_count(api, forge_key, victim):
    token = good(forge_key, victim)
    h, p, s = token.split(".")
    for bad in (f"{token}.", f"{token}.{s}", f"{h}.{p}", f"{h}", f"{h}..{s}", f".{p}.{s}",
                f"{h}.{p}.{s}.{h}.{p}", ".."):
        assert_refused(api, bad)
    r = api.get("/users/me", headers={"Authorization": "Bearer "})
    assert r.status_code == 401
    assert r.json() in (BAD, {"detail": "Not authenticated"})


def test_oversized_token(api, forge_key, victim):
    big = good(forge_key, victim, pad="a" * 9000)
    assert len(big) > 8192
    assert_refused(api, big)
    # just under the cap, the same construction is fine
    ok = good(forge_key, victim, pad="a" * 5000)
    assert len(ok) < 8192
    assert_accepted(api, ok, victim)


def test_payload_json_tricks(api, forge_key, victim, superuser_token):
    kid, secret = forge_key
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    admin = api.get("/users/me", headers=bearer(superuser_token)).json()["id"]
    c = claims(victim)
    dup = json.dumps(c)[:-1] + f', "sub": "{admin}"}}'
    assert_refused(api, raw_token(header, dup, secret))
    dup_header = '{"alg":"none","alg":"HS256","kid":"%s"}' % kid
    assert_refused(api, raw_token(dup_header, c, secret))
    assert_refused(api, raw_token(header, "[]", secret))
    assert_refused(api, raw_token(header, "null", secret))
    assert_refused(api, raw_token(header, json.dumps(c) + " x", secret))
    assert_refused(api, raw_token(header, "not json", secret))
    assert_refused(api, raw_token("[]", c, secret))


@pytest.mark.parametrize("over", [
    {"exp": None}, {"exp": "9999999999"}, {"exp": True}, {"exp": int(time.time()) - 120},
    {"exp": 0}, {"exp": -1}, {"exp": 1e300},
    {"sub": None}, {"sub": "admin"}, {"sub": 1}, {"sid": None}, {"sid": "x"},
    {"sid": "00000000-0000-0000-0000-000000000000"},
])
def test_bad_claims(api, forge_key, victim, over):
    assert_refused(api, good(forge_key, victim, **over))


def test_expired(api, forge_key, victim):
    now = int(time.time())
    assert_refused(api, good(forge_key, victim, iat=now - 3600, exp=now - 60))
    assert_refused(api, good(forge_key, victim, iat=now - 3600, exp=now - 3000))


def test_nbf_iat_leeway(api, forge_key, victim):
    now = int(time.time())
    assert_refused(api, good(forge_key, victim, nbf=now + 120))
    assert_refused(api, good(forge_key, victim, iat=now + 120))
    assert_refused(api, good(forge_key, victim, nbf=now + 45))
    assert_refused(api, good(forge_key, victim, iat=now + 3600))
    assert_accepted(api, good(forge_key, victim, nbf=now + 10), victim)
    assert_accepted(api, good(forge_key, victim, iat=now + 10), victim)
    assert_accepted(api, good(forge_key, victim, nbf=now - 10), victim)


def test_deleted_user(api, forge_key, victim, superuser_token):
    forged = good(forge_key, victim)
    assert_accepted(api, forged, victim)
    r = api.delete(f"/users/{victim['id']}", headers=bearer(superuser_token))
    assert r.status_code == 200
    assert_refused(api, forged)
    assert_refused(api, victim["access_token"])


def test_logged_out_session_reencoded(api, forge_key, victim):
    r = api.post("/logout", headers=bearer(victim["access_token"]))
    assert r.status_code == 200
    assert_refused(api, victim["access_token"])
    # a brand-new token for the dead session, validly signed, fresh jti/exp
    assert_refused(api, good(forge_key, victim))


def test_session_of_another_user(api, forge_key, victim, superuser_token, dba_sql):
    admin = api.get("/users/me", headers=bearer(superuser_token)).json()["id"]
    admin_sid = dba_sql("SELECT id FROM pgapp.sessions WHERE user_id = :'u' AND revoked_at IS NULL "
                        "ORDER BY created_at DESC LIMIT 1", variables={"u": admin})
    # the victim's sub with the admin's session, and the admin's sub with the victim's session
    assert_refused(api, good(forge_key, victim, sid=admin_sid))
    assert_refused(api, good(forge_key, victim, sub=admin))


def test_scheme_variants(api, victim):
    t = victim["access_token"]
    for value in (f"Basic {t}", f"Token {t}", t, f"Bearer  {t}x", f"Bearer {t} extra"):
        r = api.get("/users/me", headers={"Authorization": value})
        assert r.status_code == 401, (value[:30], r.text)
        assert r.json() in (BAD, {"detail": "Not authenticated"})
