"""A local fake of the national public-service portal's procedure API (127.0.0.1 only).

Tests write records in the portal's format with :func:`portal_record` and serve them;
the real portal is never called in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.procedures.national import DETAIL_PATH, SEARCH_PATH
from tests.fakes.server import serve_locally


def portal_record(
    code: str,
    name: str,
    *,
    fees: list[tuple[int, str]] = (),  # type: ignore[assignment]
    days: list[tuple[str, int]] = (),  # type: ignore[assignment]
    documents: list[str] = (),  # type: ignore[assignment]
    legal: list[str] = (),  # type: ignore[assignment]
    field_name: str = "Hộ tịch",
    decision: str = "163/QĐ-BTP",
) -> dict[str, Any]:
    """A portal response ``{"code": "OK", "data": {...}}`` for one procedure."""
    return {
        "code": "OK",
        "message": "OK",
        "data": {
            "id": f"uuid-{code}",
            "code": code,
            "name": f"Thủ tục {name}",
            "category": {"name": field_name},
            "isWard": True,
            "executionCases": [
                {
                    "name": "* Giấy tờ phải nộp:",
                    "profileComponents": [{"name": f"- {d}", "originalQty": 1} for d in documents],
                }
            ],
            "executionMethods": [
                {
                    "submissionMethod": method,
                    "fees": [{"type": "FEE", "value": v, "description": t} for v, t in fees],
                }
                for method in ("DIRECT", "ONLINE")
            ],
            "cases": [
                {"name": case, "code": f"{code}.0{i}", "processingDay": {"qty": n, "type": "WORKING_DAY"}}
                for i, (case, n) in enumerate(days, 1)
            ],
            "legalBasisesDetails": [{"name": f"Văn bản {c}", "code": c} for c in legal],
            "unitGroupsExecuting": [{"name": "Ủy ban nhân dân cấp xã"}],
            "procedureProposal": {"proposalNumber": decision, "decisionDate": 1768496400000},
            "requirementsAndConditions": "",
            "executionSteps": [{"description": "- Nộp hồ sơ tại Trung tâm Phục vụ hành chính công."}],
        },
    }


@dataclass
class FakePortal:
    """The served records by code, and what the fake saw."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    user_agents: list[str] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _search(self, request: web.Request) -> web.Response:
        self.user_agents.append(request.headers.get("User-Agent", ""))
        if "Mozilla" not in request.headers.get("User-Agent", ""):
            return web.Response(text="<html>Request Rejected</html>", content_type="text/html")
        q = (await request.json()).get("q", "")
        items = [
            {"id": r["data"]["id"], "code": code, "name": r["data"]["name"]}
            for code, r in self.records.items() if q in code
        ]
        return web.json_response({"code": "OK", "data": {"items": items, "total": len(items)}}, status=201)

    async def _detail(self, request: web.Request) -> web.Response:
        self.user_agents.append(request.headers.get("User-Agent", ""))
        wanted = (await request.json()).get("id")
        for record in self.records.values():
            if record["data"]["id"] == wanted:
                return web.json_response(record, status=201)
        return web.json_response({"code": "NOT_FOUND", "message": "not found"}, status=404)

    async def start(self) -> FakePortal:
        app = web.Application()
        app.router.add_post(SEARCH_PATH, self._search)
        app.router.add_post(DETAIL_PATH, self._detail)
        self._runner, self.port = await serve_locally(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
