"""Route patterns the docs show are those of the shipped route catalog
(sql/pgapp/6*_routes*.sql): docs/ARCHITECTURE.md showed
/api/v1/items/{id} where the catalog says {item_id}."""
import glob
import os
import re

from conftest import ROOT

PATTERN = re.compile(r"/api/v1/[A-Za-z0-9_/{}.-]*\{[^}]*\}[A-Za-z0-9_/{}.-]*")


def catalog():
    found = set()
    for path in glob.glob(os.path.join(ROOT, "sql", "pgapp", "6*routes*.sql")):
        with open(path) as f:
            found |= set(re.findall(r"'(/api/v1/[^']*)'", f.read()))
    return found


def test_architecture_shows_route_patterns_of_the_catalog():
    routes = catalog()
    assert "/api/v1/items/{item_id}" in routes
    with open(os.path.join(ROOT, "docs", "ARCHITECTURE.md")) as f:
        shown = set(PATTERN.findall(f.read()))
    assert shown, "ARCHITECTURE.md names a route pattern"
    assert shown - routes == set()
