"""pgapp.email_problem against email-validator, the library behind the
template's EmailStr (Debian's python3-email-validator, syntax only: no DNS).
Both must accept and refuse the same addresses; the words may differ where
email-validator names characters or IDNA errors its own way."""
import json
import random

from email_validator import EmailNotValidError, validate_email

from conftest import psql

CASES = [
    "plain@example.com", "first.last+tag@sub.example.co.uk", "o'brien_x-y@ex-ample.com",
    "USER@EXAMPLE.COM", "jos\u00e9@example.com", "x@xn--bcher-kva.example", "x@b\u00fccher.de",
    "a!#$%&*+/=?^`{|}~@example.com", "1@2.example.org", "x@e.xn--p1ai",
    "no-at-sign", "a@b@example.com", "@example.com", "x@", "",
    "l" * 64 + "@example.com", "l" * 65 + "@example.com",
    ".a@example.com", "a.@example.com", "a..b@example.com", '"quoted"@example.com',
    "sp ace@example.com", "semi;colon@example.com", "tab\t@example.com", "a(b)@example.com",
    "a,b@example.com", "a<b>@example.com", "a\\b@example.com", "a[b]@example.com",
    "x@[127.0.0.1]", "x@example.com.", "x@.example.com", "x@example..com",
    "x@-example.com", "x@example-.com", "x@exa_mple.com", "x@ab--cd.com", "x@exa mple.com",
    "x@" + "d" * 64 + ".com", "x@" + "d" * 63 + ".com",
    "x@localhost", "x@example.123", "x@123.com", "x@foo.test", "x@printer.local",
    "x@a.invalid", "x@host.localhost", "x@10.in-addr.arpa", "x@abc.onion", "x@testing.com",
    "x@Foo.TEST", "x@local", "x@arpa",
    "l" * 64 + "@" + "d" * 63 + "." + "d" * 63 + "." + "d" * 59 + ".com",
    "l" * 64 + "@" + "d" * 63 + "." + "d" * 63 + "." + "d" * 57 + ".com",
]


def random_cases(n, seed=20261127):
    """Addresses built from the characters the rules are about."""
    rng = random.Random(seed)
    local_chars = "abcXYZ019._-+'\"@ ;()\u00e9"
    domain_chars = "abcxyz019.-_@[]\u00fc"
    tlds = ["com", "org", "test", "local", "123", "io", "", "x1"]
    out = []
    for _ in range(n):
        local = "".join(rng.choice(local_chars) for _ in range(rng.randint(0, 8)))
        domain = "".join(rng.choice(domain_chars) for _ in range(rng.randint(0, 10)))
        tld = rng.choice(tlds)
        out.append(f"{local}@{domain}.{tld}" if tld else f"{local}@{domain}")
    return out


def library_problem(address):
    try:
        validate_email(address, check_deliverability=False)
        return None
    except EmailNotValidError as e:
        return str(e)


def pgapp_problems(addresses):
    out = psql("SELECT json_agg(pgapp.email_problem(e) ORDER BY n) "
               "FROM json_array_elements_text(:'cases'::json) WITH ORDINALITY AS c(e, n)",
               variables={"cases": json.dumps(addresses)})
    return json.loads(out)


def assert_same_verdicts(addresses):
    ours = pgapp_problems(addresses)
    differ = [(a, mine, library_problem(a)) for a, mine in zip(addresses, ours)
              if (mine is None) != (library_problem(a) is None)]
    assert differ == []


def test_listed_addresses_get_the_library_verdict():
    assert_same_verdicts(CASES)


def test_generated_addresses_get_the_library_verdict():
    cases = random_cases(600)
    refused = sum(library_problem(a) is not None for a in cases)
    assert 0 < refused < len(cases)     # the corpus has both kinds
    assert_same_verdicts(cases)


def test_signup_refuses_what_the_library_refuses(api):
    r = api.post("/users/signup", json={
        "email": "x@-example.com", "password": "password-1234"})
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["type"] == "value_error" and detail["loc"] == ["body", "email"]
    assert detail["msg"] == "value is not a valid email address: " + detail["ctx"]["reason"]
