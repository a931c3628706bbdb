"""The body limit refuses oversized bodies with 413, declared or streamed, and passes the rest intact."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from crmflow_api.body_limit import BodyLimit

LIMIT = 1000


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"bytes": len(body), "head": body[:5].decode()})


def client() -> TestClient:
    app = Starlette(routes=[Route("/", echo, methods=["POST", "GET"])])
    return TestClient(BodyLimit(app, max_bytes=LIMIT))


def chunks(n: int, size: int):
    for _ in range(n):
        yield b"x" * size


def test_declared_length_over_the_limit_is_refused():
    response = client().post("/", content=b"y" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.json() == {"detail": f"body over {LIMIT} bytes"}


def test_chunked_body_without_length_is_refused_while_streaming():
    response = client().post("/", content=chunks(50, 100))
    assert response.status_code == 413


def test_bodies_up_to_the_limit_reach_the_app_whole():
    c = client()
    assert c.post("/", content=b"hello" + b"z" * (LIMIT - 5)).json() == {"bytes": LIMIT, "head": "hello"}
    assert c.post("/", content=chunks(10, 100)).json() == {"bytes": LIMIT, "head": "xxxxx"}
    assert c.get("/").json() == {"bytes": 0, "head": ""}
