"""The HTTP docs work offline (no CDN), and every curl example in the README matches the
app's routes, methods, parameters and headers (checked against the app itself, no
network)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from starlette.routing import Match  # noqa: E402

from serving import api  # noqa: E402
from serving.api.app import API_KEY_HEADER  # noqa: E402

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # no models: the routes, methods and schemas are the same; an API key turns the guard on
    return api.create_app(api.ModelSet(tmp_path_factory.mktemp("m")), api_key="secret")


def _refs(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page) + \
        re.findall(r"""(?:url|Url)\s*:\s*["']([^"']+)["']""", page)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_reference_no_external_url_and_their_assets_load(app: Any, path: str) -> None:
    client = TestClient(app)
    page = client.get(path)
    assert page.status_code == 200, page.text
    refs = _refs(page.text)
    assert any(r.endswith(".js") for r in refs), refs  # the page does load its script
    external = [r for r in refs if re.match(r"(https?:)?//", r)]
    assert external == [], f"{path} loads from outside the app: {external}"
    for ref in refs:
        got = client.get(ref)
        assert got.status_code == 200, (ref, got.status_code)
        assert len(got.content) > 100, ref


def test_docs_stay_open_with_an_api_key(app: Any) -> None:
    client = TestClient(app)
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 200


# ------------------------------------------------------------------ README's curl lines
def curl_examples(text: str) -> list[str]:
    """Every ``$ curl ...`` command of the README's code blocks, continuation lines
    (a trailing backslash, or a quote still open) joined."""
    out, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ curl "):
            i += 1
            continue
        cmd = lines[i][2:]
        while True:
            joined = cmd.replace("\\\n", " ")
            try:
                shlex.split(joined)
                complete = not cmd.endswith("\\")
            except ValueError:  # an open quote: the command goes on
                complete = False
            if complete or i + 1 >= len(lines):
                break
            i += 1
            cmd += "\n" + lines[i]
        out.append(cmd.replace("\\\n", " "))
        i += 1
    return out


def parse_curl(cmd: str) -> dict[str, Any]:
    """curl's meaning: method, path, query, headers (lower-case names) and data."""
    args = shlex.split(cmd)[1:]
    method, headers, data, url = None, {}, None, None
    it = iter(args)
    for a in it:
        if a in ("-X", "--request"):
            method = next(it)
        elif a in ("-H", "--header"):
            name, _, value = next(it).partition(":")
            headers[name.strip().lower()] = value.strip()
        elif a in ("-d", "--data", "--data-raw"):
            data = next(it)
        elif a.startswith("-"):
            raise AssertionError(f"unhandled curl option {a} in: {cmd}")
        else:
            url = a
    assert url, cmd
    path, _, query = url.split("://")[-1].partition("/")[2].partition("?")
    if data is not None:  # curl -d posts a form unless told otherwise
        headers.setdefault("content-type", "application/x-www-form-urlencoded")
    return {"method": method or ("POST" if data is not None else "GET"), "path": "/" + path,
            "query": dict(p.split("=", 1) for p in query.split("&") if p),
            "headers": headers, "data": data}


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _operation(app: Any, method: str, path: str) -> dict[str, Any]:
    scope = {"type": "http", "method": method, "path": path}
    for route in app.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return app.openapi()["paths"][route.path][method.lower()]
    raise AssertionError(f"no route answers {method} {path}")


def check_curl(app: Any, cmd: str) -> list[str]:
    """What is wrong with one curl line (nothing when it works as written)."""
    c = parse_curl(cmd)
    problems = []
    op = _operation(app, c["method"], c["path"])
    spec = app.openapi()
    params = {(p["in"], p["name"]) for p in op.get("parameters", [])}
    for name in c["query"]:
        if ("query", name) not in params:
            problems.append(f"query parameter {name!r} is not one of {sorted(params)}")
    for name in c["headers"]:
        if name == "content-type" or ("header", name) in {(i, n.lower()) for i, n in params}:
            continue
        if name != API_KEY_HEADER.lower():
            problems.append(f"header {name!r} is not one the API reads")
    body = op.get("requestBody")
    if c["data"] is not None:
        if body is None:
            problems.append("sends a body to an endpoint that takes none")
        else:
            kinds = list(body["content"])
            if c["headers"]["content-type"] not in kinds:
                problems.append(f"content-type {c['headers']['content-type']!r}; the endpoint "
                                f"reads {kinds} (add -H 'content-type: application/json')")
            try:
                doc = json.loads(c["data"])
            except json.JSONDecodeError as exc:
                problems.append(f"the body is not JSON: {exc}")
            else:
                schema = _resolve(body["content"]["application/json"]["schema"], spec)
                extra = set(doc) - set(schema.get("properties", {}))
                if extra:
                    problems.append(f"body fields {sorted(extra)} are not in the schema")
    elif body is not None and body.get("required"):
        problems.append("the endpoint needs a body (-d)")
    return problems


def test_the_readme_has_curl_examples() -> None:
    cmds = curl_examples(README.read_text())
    assert len(cmds) >= 4
    assert any("/score/credit" in c for c in cmds)


def test_every_readme_curl_example_works_as_written(app: Any) -> None:
    failures = {c: p for c in curl_examples(README.read_text()) if (p := check_curl(app, c))}
    assert failures == {}, json.dumps(failures, indent=1)


@pytest.mark.parametrize(("cmd", "problem"), [
    ("curl -X POST localhost:8000/score/credit -d '{\"applicants\":[]}'", "content-type"),
    ("curl -X POST localhost:8000/recommend -H 'content-type: application/json' -d '{x}'",
     "not JSON"),
    ("curl 'localhost:8000/recommend/1?count=3'", "query parameter 'count'"),
    ("curl -X POST localhost:8000/recommend -H 'content-type: application/json' "
     "-d '{\"userz\":[\"1\"]}'", "body fields ['userz']"),
    ("curl localhost:8000/recommend/1 -H 'X-Api-Token: x'", "header 'x-api-token'"),
])
def test_the_checker_catches_broken_examples(app: Any, cmd: str, problem: str) -> None:
    assert any(problem in p for p in check_curl(app, cmd)), check_curl(app, cmd)


def test_the_checker_rejects_unknown_routes(app: Any) -> None:
    with pytest.raises(AssertionError, match="no route answers DELETE /recommend"):
        check_curl(app, "curl -X DELETE localhost:8000/recommend")
