"""JWT interoperability with PyJWT (Debian python3-jwt 2.6).

Tokens pgapp signs verify in PyJWT with the same secret; tokens PyJWT
signs (with a kid header) verify in pgapp; tokens PyJWT refuses, pgapp
refuses too, each with its own SQLSTATE (extension/src/jwt.h).

The test keys are added under unique kids and the HS256 one becomes the
signing key while this module runs; at the end they are retired an hour
ahead, so tokens that other suites got meanwhile keep verifying and the
previous signing key signs again.  Secrets and tokens reach the database
as psql variables, never inside SQL text.
"""
import json
import os
import re
import subprocess
import time
import uuid

import jwt
import pytest

ALGORITHMS = ("HS256", "HS384", "HS512")


@pytest.fixture(scope="module")
def keys(dba_sql):
    """{alg: (kid, secret)}; HS256 imported last, so it signs."""
    made = {}
    for alg in ("HS512", "HS384", "HS256"):
        kid = f"pytest-{alg.lower()}-{uuid.uuid4().hex[:12]}"
        secret = f"interop-{alg}-" + uuid.uuid4().hex * 2  # 77 bytes: enough for HS512
        got = dba_sql("SELECT pgapp.key_import(convert_to(:'secret', 'UTF8'), :'alg', :'kid')",
                      variables={"secret": secret, "alg": alg, "kid": kid})
        assert got == kid
        made[alg] = (kid, secret)
    yield made
    for kid, _ in made.values():
        dba_sql("UPDATE pgapp.signing_keys SET retired_at = now() + interval '1 hour'"
                " WHERE kid = :'kid'", variables={"kid": kid})


def verify(dba_sql, token):
    """(claims, None) when pgapp accepts the token, else (None, SQLSTATE)."""
    proc = dba_sql("\\set VERBOSITY verbose\nSELECT api.jwt_verify(:'token')",
                   variables={"token": token}, check=False)
    if proc.returncode == 0:
        return json.loads(proc.stdout.strip()), None
    m = re.search(r"ERROR:\s+([0-9A-Z]{5}):", proc.stderr)
    assert m, proc.stderr
    return None, m.group(1)


def pg_sign(dba_sql, claims):
    return dba_sql("SELECT pgapp.jwt_sign(:'claims'::jsonb)",
                   variables={"claims": json.dumps(claims)})


def test_pgapp_token_verifies_in_pyjwt(dba_sql, keys):
    kid, secret = keys["HS256"]
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "exp": now + 300, "iat": now,
              "jti": uuid.uuid4().hex, "sid": str(uuid.uuid4())}
    token = pg_sign(dba_sql, claims)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": kid}
    assert jwt.decode(token, secret, algorithms=["HS256"]) == claims
    # the other keys' secrets do not verify it
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, keys["HS384"][1], algorithms=["HS256"])


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_pyjwt_token_verifies_in_pgapp(dba_sql, keys, alg):
    kid, secret = keys[alg]
    now = int(time.time())
    claims = {"sub": "interop", "exp": now + 300, "iat": now, "nbf": now,
              "name": "Zoë ✓", "roles": ["a", "b"], "n": 1.5}
    token = jwt.encode(claims, secret, algorithm=alg, headers={"kid": kid})
    got, err = verify(dba_sql, token)
    assert err is None
    assert got == claims


def _refused_cases(keys):
    """(name, token, PyJWT decode kwargs, pgapp SQLSTATE)"""
    kid, secret = keys["HS256"]
    now = int(time.time())
    ok = {"sub": "x", "exp": now + 300}
    good = jwt.encode(ok, secret, algorithm="HS256", headers={"kid": kid})
    h, p, s = good.split(".")
    tampered_sig = f"{h}.{p}.{s[:10]}{'A' if s[10] != 'A' else 'B'}{s[11:]}"
    tampered_payload = f"{h}.{jwt.encode({'sub': 'admin', 'exp': now + 300}, 'x' * 32).split('.')[1]}.{s}"
    none_unsigned = jwt.encode(ok, None, algorithm="none", headers={"kid": kid})
    none_signed = none_unsigned + s
    return [
        ("expired", jwt.encode({"sub": "x", "exp": now - 60}, secret, algorithm="HS256",
                               headers={"kid": kid}), {}, "PJ007"),
        ("not yet valid", jwt.encode({"sub": "x", "exp": now + 300, "nbf": now + 600}, secret,
                                     algorithm="HS256", headers={"kid": kid}), {}, "PJ008"),
        ("issued in the future", jwt.encode({"sub": "x", "exp": now + 900, "iat": now + 600},
                                            secret, algorithm="HS256", headers={"kid": kid}),
         {}, "PJ008"),
        ("exp missing", jwt.encode({"sub": "x"}, secret, algorithm="HS256", headers={"kid": kid}),
         {"options": {"require": ["exp"]}}, "PJ006"),
        ("exp not a number", jwt.encode({"sub": "x", "exp": "soon"}, secret, algorithm="HS256",
                                        headers={"kid": kid}), {}, "PJ006"),
        ("wrong secret", jwt.encode(ok, "another-secret-" + "y" * 32, algorithm="HS256",
                                    headers={"kid": kid}), {}, "PJ004"),
        ("tampered signature", tampered_sig, {}, "PJ004"),
        ("tampered payload", tampered_payload, {}, "PJ004"),
        ("alg none, unsigned", none_unsigned, {}, "PJ001"),
        ("alg none, with a signature", none_signed, {}, "PJ002"),
        ("alg HS512 on the HS256 key", jwt.encode(ok, secret, algorithm="HS512",
                                                  headers={"kid": kid}), {}, "PJ002"),
        ("two segments", f"{h}.{p}", {}, "PJ001"),
    ]


def test_tokens_pyjwt_refuses_pgapp_refuses(dba_sql, keys):
    secret = keys["HS256"][1]
    for name, token, kwargs, sqlstate in _refused_cases(keys):
        with pytest.raises(jwt.PyJWTError):
            jwt.decode(token, secret, algorithms=["HS256"], **kwargs)
        got, err = verify(dba_sql, token)
        assert (name, err) == (name, sqlstate), got


def test_pgapp_refuses_what_pyjwt_would_accept(dba_sql, keys):
    """Stricter than PyJWT on purpose (SPEC §8): no kid, unknown kid, and
    duplicate JSON keys are refused although PyJWT takes them."""
    kid, secret = keys["HS256"]
    now = int(time.time())
    no_kid = jwt.encode({"sub": "x", "exp": now + 300}, secret, algorithm="HS256")
    jwt.decode(no_kid, secret, algorithms=["HS256"])
    assert verify(dba_sql, no_kid)[1] == "PJ003"

    unknown = jwt.encode({"sub": "x", "exp": now + 300}, secret, algorithm="HS256",
                         headers={"kid": "pytest-unknown-" + uuid.uuid4().hex})
    jwt.decode(unknown, secret, algorithms=["HS256"])
    assert verify(dba_sql, unknown)[1] == "PJ003"

    # a payload with "sub" twice, correctly signed: PyJWT keeps the last one
    header = jwt.utils.base64url_encode(json.dumps(
        {"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = jwt.utils.base64url_encode(
        f'{{"sub":"user","sub":"admin","exp":{now + 300}}}'.encode())
    signing_input = header + b"." + payload
    sig = jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256).sign(
        signing_input, secret.encode())
    dup = (signing_input + b"." + jwt.utils.base64url_encode(sig)).decode()
    assert jwt.decode(dup, secret, algorithms=["HS256"])["sub"] == "admin"
    assert verify(dba_sql, dup)[1] == "PJ001"


class Session:
    """One long-lived psql backend, to watch its key cache."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [os.environ["PGAPP_PSQL"], "-X", "-q", "-At", "-U", "postgres",
             "-d", os.environ.get("PGDATABASE", "pgapp"), "-v", "VERBOSITY=verbose"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)

    def verify(self, token):
        # tokens are base64url and dots only: safe inside a quoted literal
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)
        self.proc.stdin.write(f"SELECT api.jwt_verify('{token}') IS NOT NULL;\n"
                              "\\echo __done__\n")
        self.proc.stdin.flush()
        lines = []
        for line in self.proc.stdout:
            if line.strip() == "__done__":
                break
            lines.append(line.strip())
        out = "\n".join(lines)
        m = re.search(r"ERROR:\s+([0-9A-Z]{5}):", out)
        return m.group(1) if m else out

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def test_retired_key_stops_verifying(dba_sql, keys):
    """A key retired in one session stops verifying at once in another
    session that had it cached (relcache invalidation, keys.c)."""
    kid = "pytest-retire-" + uuid.uuid4().hex[:12]
    secret = "retire-secret-" + uuid.uuid4().hex
    dba_sql("SELECT pgapp.key_import(convert_to(:'secret', 'UTF8'), 'HS256', :'kid')",
            variables={"secret": secret, "kid": kid})
    # no longer the signing key, so the suite's signing key is untouched
    dba_sql("UPDATE pgapp.signing_keys SET retired_at = now() + interval '1 hour'"
            " WHERE kid = :'kid'", variables={"kid": kid})
    token = jwt.encode({"sub": "x", "exp": int(time.time()) + 300}, secret,
                       algorithm="HS256", headers={"kid": kid})
    other = Session()
    try:
        assert other.verify(token) == "t"  # loads this backend's cache
        assert other.verify(token) == "t"
        dba_sql("SELECT pgapp.key_retire(:'kid')", variables={"kid": kid})
        assert other.verify(token) == "PJ003"
        assert verify(dba_sql, token)[1] == "PJ003"
        # and a new key reaches it too
        dba_sql("UPDATE pgapp.signing_keys SET retired_at = now() + interval '1 hour'"
                " WHERE kid = :'kid'", variables={"kid": kid})
        assert other.verify(token) == "t"
    finally:
        other.close()
