"""docs/openapi.yaml describes exactly the routes of the route table (fcgi/router.c)."""
import os
import re
import subprocess

import yaml

from conftest import ROOT


def table_routes():
    out = subprocess.run([os.path.join(ROOT, "build", "atrium-fcgi"), "--routes"], check=True,
                         capture_output=True, text=True).stdout
    routes = set()
    for line in out.splitlines():
        method, path = line.split()
        routes.add((method.lower(), re.sub(r"\{(\w+):\w+\}", r"{\1}", path)))
    return routes


def spec_routes():
    with open(os.path.join(ROOT, "docs", "openapi.yaml")) as f:
        spec = yaml.safe_load(f)
    assert spec["openapi"].startswith("3.1")
    methods = {"get", "post", "put", "patch", "delete", "head", "options"}
    return {(m, p) for p, ops in spec["paths"].items() for m in ops if m in methods}


def test_route_table_and_openapi_agree():
    table, spec = table_routes(), spec_routes()
    assert len(table) >= 10
    assert table - spec == set(), f"routes missing from docs/openapi.yaml: {sorted(table - spec)}"
    assert spec - table == set(), f"documented routes the server lacks: {sorted(spec - table)}"


def test_every_operation_documents_its_errors():
    with open(os.path.join(ROOT, "docs", "openapi.yaml")) as f:
        spec = yaml.safe_load(f)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            assert any(code.startswith("2") for code in map(str, op["responses"])), (method, path)
            assert op.get("operationId"), (method, path)
