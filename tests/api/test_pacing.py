"""Large answers reach the server a part at a time, so a client that stops reading holds no growing copy of one."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from hub.api.pacing import PART, PacedBody
from hub.app import create_app
from hub.config import Settings


async def _answer(body: bytes) -> list[Message]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    await PacedBody(app)({"type": "http"}, receive, send)
    return sent


async def test_a_large_body_is_sent_in_parts_no_larger_than_part() -> None:
    body = bytes(range(256)) * (PART // 100)
    parts = (await _answer(body))[1:]
    assert len(parts) == -(-len(body) // PART) and all(len(p["body"]) <= PART for p in parts)
    assert b"".join(p["body"] for p in parts) == body
    assert [p["more_body"] for p in parts] == [True] * (len(parts) - 1) + [False]


async def test_a_small_body_is_sent_as_it_is() -> None:
    assert (await _answer(b"{}"))[1] == {"type": "http.response.body", "body": b"{}"}


def test_every_answer_of_the_app_is_paced() -> None:
    """Outermost, so the answers of the other middleware (a refused key, a malformed path) are paced too."""
    assert create_app(Settings(store="sqlite:///:memory:")).user_middleware[0].cls is PacedBody
