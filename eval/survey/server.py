"""`toolkit survey serve`: the rater web app (Starlette on uvicorn).

Routes (everything else is 404):

```
GET  /                          a landing page that lists nothing
GET  /r/{token}                 the rater page (instructions, one item at a time, progress)
GET  /assets/app.js|style.css   the page's script and style (fixed files of this package)
GET  /api/{token}/state         the rater's items (opaque video URLs) and their answers so far (resume)
POST /api/{token}/answers       one answer (JSON, <= 16 KiB); stored before it is acknowledged
GET  /media/{token}/{name}.mp4  a video of this rater's sequence, from STUDY/media only
GET  /healthz                   {"ok": true}
```

The token is the rater's only credential: it selects their plan, and every
media request is checked against that plan, so a rater can fetch their own
videos and nothing else (no other rater's videos, no key, no file outside
``STUDY/media``: names must match ``[a-z0-9]{16,40}.mp4`` and be in the plan
before any path is built). Responses carry a strict Content-Security-Policy
(no inline script, no third-party anything), ``nosniff`` and no-referrer.
"""

from __future__ import annotations

import html
import json
import socket
import string
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from eval.survey.answers import MAX_BODY_BYTES, AnswerError, parse_json, validate_answer
from eval.survey.store import AnswerStore
from eval.survey.study import MEDIA_NAME_RE, RaterPlan, Study, StudyInfo, load_study
from toolkit.errors import InputFileError, ToolkitError

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; media-src 'self'; connect-src 'self'; "
        b"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]

ASSETS: dict[str, str] = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}


def web_file(name: str) -> str:
    return resources.files("eval.survey").joinpath("web", name).read_text(encoding="utf-8")


def json_for_html(obj: Any) -> str:
    """JSON that is safe inside HTML (a <script type=application/json> block) and as a response body."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_rater_page(info: StudyInfo, data: dict[str, Any], assets_prefix: str) -> str:
    """The rater page: title and instructions HTML-escaped, the rest as a JSON data block."""
    return string.Template(web_file("rater.html")).substitute(
        title=html.escape(info.title),
        instructions=html.escape(info.instructions),
        assets=html.escape(assets_prefix),
        data_json=json_for_html(data),
    )


def _security_headers(app: Callable) -> Callable:
    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in names
                ]
            await send(message)

        return await app(scope, receive, send_with_headers)

    return wrapped


def create_app(study_dir: str | Path, allowed_hosts: list[str] | None = None) -> Any:
    """The ASGI app for one study. ``allowed_hosts``: Host header values accepted (DNS-rebinding guard)."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, Response
    from starlette.routing import Route

    study: Study = load_study(study_dir)
    store = AnswerStore(study.db_path, study.info.study_id)
    media_root = study.media_dir.resolve()
    assets = {name: web_file(name) for name in ASSETS}

    def json_response(obj: Any, status: int = 200) -> Response:
        return Response(
            json_for_html(obj), status_code=status, media_type="application/json",
            headers={"cache-control": "no-store"},
        )  # fmt: skip

    def not_found() -> Response:
        return json_response({"error": "not found"}, 404)

    def plan_of(request: Request) -> RaterPlan | None:
        return study.plan_for_token(request.path_params.get("token", ""))

    async def index(request: Request) -> Response:
        return HTMLResponse(
            "<!doctype html><meta charset=utf-8><title>Study</title>"
            "<p>This is a video rating study. Please open the personal link you were given.</p>",
            headers={"cache-control": "no-store"},
        )

    async def healthz(request: Request) -> Response:
        return json_response({"ok": True})

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    async def rater_page(request: Request) -> Response:
        plan = plan_of(request)
        if plan is None:
            return HTMLResponse(
                "<!doctype html><meta charset=utf-8><title>Not found</title>"
                "<p>This link is not valid. Check that you copied all of it.</p>",
                status_code=404,
            )
        token = request.path_params["token"]
        data = {"mode": "server", "study": study.info.public_dict(), "api": f"../api/{token}/"}
        return HTMLResponse(render_rater_page(study.info, data, "../assets/"), headers={"cache-control": "no-store"})

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return not_found()
        return Response(assets[name], media_type=ASSETS[name], headers={"cache-control": "no-cache"})

    async def state(request: Request) -> Response:
        plan = plan_of(request)
        if plan is None:
            return not_found()
        token = request.path_params["token"]
        answered = await run_in_threadpool(store.answers_for, plan.rater_id)
        items = [{"item_id": it.item_id, "videos": [f"../media/{token}/{v}" for v in it.videos]} for it in plan.items]
        answers = {k: {"values": v["values"], "comment": v.get("comment", "")} for k, v in answered.items()}
        return json_response({"items": items, "answers": answers, "answered": len(answers), "total": len(items)})

    async def submit(request: Request) -> Response:
        plan = plan_of(request)
        if plan is None:
            return not_found()
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return json_response({"error": "send the answer as application/json."}, 415)
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            return json_response({"error": f"the answer is larger than {MAX_BODY_BYTES} bytes."}, 413)
        body = bytearray()
        async for chunk in request.stream():  # also caps chunked bodies that declare no length
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return json_response({"error": f"the answer is larger than {MAX_BODY_BYTES} bytes."}, 413)
        try:
            answer = validate_answer(parse_json(bytes(body)), study.info, plan)
        except AnswerError as exc:
            return json_response({"error": str(exc)}, exc.status)
        result = await run_in_threadpool(store.submit, plan.rater_id, answer)
        # only now, with the answer committed to disk, is it acknowledged
        return json_response(
            {"ok": True, "item_id": answer.item_id, "created": result.created, "answered": result.answered,
             "total": len(plan.items)}
        )  # fmt: skip

    async def media(request: Request) -> Response:
        plan = plan_of(request)
        name = request.path_params["name"]
        if plan is None or not MEDIA_NAME_RE.match(name) or name not in plan.media_names:
            return not_found()
        path = (media_root / name).resolve()
        if path.parent != media_root or not path.is_file():
            return not_found()
        return FileResponse(path, media_type="video/mp4", headers={"cache-control": "private, max-age=3600"})

    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/favicon.ico", favicon),
        Route("/r/{token}", rater_page),
        Route("/assets/{name}", asset),
        Route("/api/{token}/state", state),
        Route("/api/{token}/answers", submit, methods=["POST"]),
        Route("/media/{token}/{name}", media),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or ["*"])]

    async def lifespan(app: Any):
        yield
        store.close()

    from contextlib import asynccontextmanager

    app = Starlette(routes=routes, middleware=middleware, lifespan=asynccontextmanager(lifespan))
    app.state.study = study
    app.state.store = store
    return _security_headers(app)


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def default_allowed_hosts(host: str) -> list[str]:
    """The Host headers accepted when serving on ``host`` without ``--allowed-host``.

    Only a local interface has a default: on a network interface any Host header
    would be accepted (DNS rebinding: a page on another site could read the
    study through the rater's browser), so the names must be given.
    """
    if host in LOCAL_HOSTS:
        return ["127.0.0.1", "localhost", "[::1]", "::1"]
    raise ToolkitError(
        f"serving on {host} (not this machine only) needs the host names raters will use.",
        "Add --allowed-host NAME for each (e.g. --allowed-host study.example.org --allowed-host 192.0.2.7), "
        "or --allowed-host '*' behind a proxy that checks the Host header itself.",
    )


def _print_flush(text: str) -> None:
    print(text, flush=True)


def serve_study(
    study_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    allowed_hosts: list[str] | None = None,
    access_log: bool = False,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted. ``port=0`` picks a free port (announced on stdout)."""
    import uvicorn

    allowed_hosts = allowed_hosts or default_allowed_hosts(host)  # refuses a network host without a list
    study = load_study(study_dir)
    try:
        sock = socket.create_server((host, port), backlog=512)
    except OSError as exc:
        raise InputFileError(f"cannot listen on {host}:{port} ({exc}).", "Choose another --port.") from exc
    actual_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    app = create_app(study_dir, allowed_hosts)
    (announce or _print_flush)(
        f"serving study {study.info.study_id} ({len(study.plans)} raters) at http://{shown_host}:{actual_port}/\n"
        f"rater links: http://{shown_host}:{actual_port}/r/<token>, tokens in "
        f"{Path(study_dir) / 'private' / 'raters.csv'}; answers in {study.db_path}; Ctrl-C stops"
    )
    config = uvicorn.Config(app, log_level="warning", access_log=access_log, timeout_graceful_shutdown=3)
    uvicorn.Server(config).run(sockets=[sock])
