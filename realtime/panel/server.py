"""The control panel's HTTP server: the page, the JSON API it uses (documented in docs/PANEL.md,
for OBS scripts, a Stream Deck or curl alike) and the live preview.

It runs aiohttp on its own thread and event loop beside the frame loop, which it never blocks:
reads take the session's state as it is, and each control is carried out by the loop between
two frames (``realtime.live.controls``), waited for here in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import webbrowser
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from realtime.app.add_style import StyleDesk
from realtime.app.live import LiveSession
from realtime.app.painting import NotAnImage, StyleConflict
from realtime.core.errors import UserError
from realtime.panel.preview import MAX_WATCHERS, Preview
from realtime.panel.security import Guard, guard_middleware, is_loopback, new_token
from realtime.panel.thumbnails import Thumbnails

MAX_BODY = 64 * 1024  # JSON bodies are a few hundred bytes
MAX_UPLOAD = 20 * 1024 * 1024  # a painting: a large JPEG or PNG
MAX_NAME_FIELD = 1024  # the form's name field (a style name is at most 40 characters)
_UPLOAD_CHUNK = 64 * 1024
_STOP_SECONDS = 5.0
_WRITE_TIMEOUT = 5.0  # a preview client that takes longer for one frame is dropped
_RECORD_NAME = re.compile(r"^[\w.-]{1,100}\.(mp4|mkv|mov)$")
_STATIC = {"/": "index.html", "/panel.js": "panel.js", "/panel.css": "panel.css"}
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


def parse_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` -> (host, port); the host defaults to loopback."""
    host, _, port_text = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise UserError(f"--panel {text!r}: give [HOST:]PORT, e.g. 127.0.0.1:8765") from None
    if not 0 <= port <= 65535:
        raise UserError(f"--panel {text!r}: port {port} is out of range (0-65535)")
    return host, port


def check_panel_address(host: str, public: bool) -> None:
    """A panel anyone on the network could reach needs saying so: --panel-public."""
    if not is_loopback(host) and not public:
        raise UserError(
            f"--panel {host}: the panel binds to loopback unless --panel-public is given "
            "(anyone who can reach the address and has the token can drive the run)"
        )


class PanelServer:
    """The panel of one live session, served until ``stop()``."""

    def __init__(self, session: LiveSession, host: str, port: int) -> None:
        self.session, self.host, self.port = session, host, port
        self.token = new_token()
        self._guard = Guard(self.token, host, port)
        self.preview = Preview(session.latest_frame)
        self.thumbnails = Thumbnails(session)
        self.styles = StyleDesk(session)  # paintings added from the page
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="panel", daemon=True)
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}/?token={self.token}"

    def start(self) -> None:
        """Bind and serve; a port in use or an address not here is one line."""
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise UserError(
                f"--panel {self.host}:{self.port}: cannot listen ({self._error}); choose "
                "another port"
            )

    def open_in_browser(self) -> None:
        webbrowser.open(self.url)

    def stop(self) -> None:
        # A training first: its subprocesses end and its files go, whatever the server does.
        self.styles.close()
        if not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        future.result(timeout=_STOP_SECONDS)
        self._thread.join(_STOP_SECONDS)

    # -- the server's thread -------------------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._bind())
        except OSError as exc:
            self._error = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()
        self._loop.close()

    async def _bind(self) -> None:
        app = self._app()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:  # the port the system chose
            server = site._server  # noqa: SLF001 - aiohttp keeps the socket there
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._guard.port = self.port

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._loop.call_soon(self._loop.stop)

    def _app(self) -> web.Application:
        app = web.Application(
            middlewares=[guard_middleware(self._guard)], client_max_size=MAX_UPLOAD
        )
        routes = _Routes(self)
        for path in _STATIC:
            app.router.add_get(path, routes.static)
        app.router.add_get("/api/state", routes.get_state)
        app.router.add_post("/api/state", routes.post_state)
        app.router.add_post("/api/snapshot", routes.snapshot)
        app.router.add_get("/api/snapshots/{name}", routes.snapshot_file)
        app.router.add_post("/api/record", routes.record)
        app.router.add_get("/api/styles/{name}/thumbnail.jpg", routes.thumbnail)
        app.router.add_post("/api/styles", routes.add_style)
        app.router.add_post("/api/styles/cancel", routes.cancel_style)
        app.router.add_get("/api/styles/training/preview.jpg", routes.training_preview)
        app.router.add_get("/api/preview.jpg", routes.preview_jpeg)
        app.router.add_get("/api/preview.mjpg", routes.preview_stream)
        return app


class _Routes:
    """The handlers. Controls run in a worker thread: they wait for the frame loop."""

    def __init__(self, server: PanelServer) -> None:
        self.server, self.session = server, server.session

    async def _control(self, action: Any) -> Any:
        try:
            return await asyncio.to_thread(action)
        except UserError as exc:
            raise web.HTTPBadRequest(reason=str(exc)) from None

    async def _json_body(self, request: web.Request) -> dict[str, Any]:
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(reason="send JSON (Content-Type: application/json)")
        if (request.content_length or 0) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(
                max_size=MAX_BODY, actual_size=request.content_length
            )
        try:
            body = json.loads(await request.text())
        except ValueError:
            raise web.HTTPBadRequest(reason="the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(reason="send a JSON object of the fields to change")
        return body

    async def static(self, request: web.Request) -> web.Response:
        name = _STATIC[request.path]
        text = resources.files("realtime.panel").joinpath("static", name).read_text("utf-8")
        # The page asks for its script and style with the token it was opened with.
        text = text.replace("{{TOKEN}}", self.server.token)
        return web.Response(text=text, content_type=_TYPES[Path(name).suffix])

    async def get_state(self, request: web.Request) -> web.Response:
        return web.json_response(self._state())

    def _state(self) -> dict[str, Any]:
        training = self.server.styles.state()
        return self.session.state().as_dict() | {
            "training": training.as_dict() if training is not None else None
        }

    async def post_state(self, request: web.Request) -> web.Response:
        changes = await self._json_body(request)
        await self._control(lambda: self.session.update(changes))
        return web.json_response(self._state())

    async def snapshot(self, request: web.Request) -> web.Response:
        path: Path = await self._control(self.session.snapshot)
        url = f"/api/snapshots/{path.name}"
        return web.json_response({"path": str(path), "url": url})

    async def snapshot_file(self, request: web.Request) -> web.FileResponse:
        # Only files this run saved: a name is looked up, never joined to a path.
        name = request.match_info["name"]
        saved = {path.name: path for path in self.session.controls.snapshots}
        if name not in saved or not saved[name].is_file():
            raise web.HTTPNotFound(reason=f"no snapshot {name!r} in this run")
        return web.FileResponse(saved[name], headers={
            "Content-Disposition": f'attachment; filename="{name}"',
        })  # fmt: skip

    async def record(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        if not isinstance(body.get("recording"), bool):
            raise web.HTTPBadRequest(reason='send {"recording": true} or {"recording": false}')
        if not body["recording"]:
            summary = await self._control(self.session.stop_recording)
            return web.json_response({"recording": None, "summary": summary})
        path = self._record_path(body.get("name"))
        await self._control(lambda: self.session.start_recording(path))
        return web.json_response({"recording": str(path)})

    def _record_path(self, name: object) -> Path:
        """Recordings go to the snapshot folder, under a plain file name (never a path)."""
        if name is None:
            name = f"realtime-{datetime.now().strftime('%Y%m%d-%H%M%S')}.mp4"
        if not isinstance(name, str) or not _RECORD_NAME.match(name):
            raise web.HTTPBadRequest(
                reason="name: a plain file name ending in .mp4, .mkv or .mov (letters, digits, "
                "'.', '_', '-')"
            )
        path = self.session.controls.snapshot_dir / name
        if path.exists():
            raise web.HTTPConflict(reason=f"{name} exists; choose another name")
        return path

    async def thumbnail(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        data = await asyncio.to_thread(self.server.thumbnails.jpeg, name)
        if data is None:
            raise web.HTTPNotFound(reason=f"no style {name!r} in this run")
        return web.Response(body=data, content_type="image/jpeg")

    # -- a painting added: docs/PANEL.md, "Adding a painting" -----------------------------------

    async def add_style(self, request: web.Request) -> web.Response:
        data, filename, name = await self._painting_form(request)
        desk = self.server.styles
        try:
            training = await asyncio.to_thread(desk.add, data, filename, name)
        except StyleConflict as exc:
            raise web.HTTPConflict(reason=str(exc)) from None
        except NotAnImage as exc:
            raise web.HTTPUnsupportedMediaType(reason=str(exc)) from None
        except UserError as exc:
            raise web.HTTPBadRequest(reason=str(exc)) from None
        return web.json_response({"training": training.as_dict()}, status=202)

    async def _painting_form(self, request: web.Request) -> tuple[bytes, str | None, str | None]:
        """The form's painting (its bytes and file name) and name, each read up to its limit."""
        if request.content_type != "multipart/form-data":
            raise web.HTTPUnsupportedMediaType(
                reason="send the painting as multipart/form-data in the field painting "
                "(curl -F painting=@FILE)"
            )
        if (request.content_length or 0) > MAX_UPLOAD + MAX_BODY:
            raise _too_large()
        data: bytes | None = None
        filename = name = None
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                field = getattr(part, "name", None)
                if field == "painting" and isinstance(part, BodyPartReader):
                    filename = part.filename
                    data = await _read_part(part, MAX_UPLOAD)
                elif field == "name" and isinstance(part, BodyPartReader):
                    name = (await _read_part(part, MAX_NAME_FIELD)).decode("utf-8", "replace")
                else:
                    raise web.HTTPBadRequest(
                        reason=f"unknown field {field!r}; send painting (the image) and, if "
                        "you like, name"
                    )
        except (ValueError, AssertionError, LookupError):
            raise web.HTTPBadRequest(
                reason="the form cannot be read; send multipart/form-data"
            ) from None
        if not data:
            raise web.HTTPBadRequest(reason="no painting: send the image in the field painting")
        return data, filename, name

    async def cancel_style(self, request: web.Request) -> web.Response:
        try:
            training = await asyncio.to_thread(self.server.styles.cancel)
        except StyleConflict as exc:
            raise web.HTTPConflict(reason=str(exc)) from None
        return web.json_response({"training": training.as_dict()})

    async def training_preview(self, request: web.Request) -> web.Response:
        data = await asyncio.to_thread(self.server.styles.preview)
        if data is None:
            raise web.HTTPNotFound(reason="no preview of a training yet")
        return web.Response(body=data, content_type="image/jpeg")

    async def preview_jpeg(self, request: web.Request) -> web.Response:
        data = await asyncio.to_thread(self.server.preview.jpeg)
        if data is None:
            raise web.HTTPServiceUnavailable(reason="no frame yet")
        return web.Response(body=data, content_type="image/jpeg")

    async def preview_stream(self, request: web.Request) -> web.StreamResponse:
        preview = self.server.preview
        if preview.watchers >= MAX_WATCHERS:
            raise web.HTTPServiceUnavailable(
                reason=f"{MAX_WATCHERS} previews are open already; close one"
            )
        response = web.StreamResponse(headers={
            "Content-Type": "multipart/x-mixed-replace; boundary=frame",
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        })  # fmt: skip
        await response.prepare(request)
        preview.watchers += 1
        try:
            await self._stream(response, preview)
        except (ConnectionError, TimeoutError, asyncio.CancelledError):
            pass  # the client went away, or stalled: its stream ends, the run goes on
        finally:
            preview.watchers -= 1
        return response

    async def _stream(self, response: web.StreamResponse, preview: Preview) -> None:
        last: bytes | None = None
        while True:
            data = await asyncio.to_thread(preview.jpeg)
            if data is not None and data is not last:
                part = (
                    b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    + str(len(data)).encode() + b"\r\n\r\n" + data + b"\r\n"
                )  # fmt: skip
                await asyncio.wait_for(response.write(part), _WRITE_TIMEOUT)
                last = data
            await asyncio.sleep(preview.interval)


def _too_large() -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(
        max_size=MAX_UPLOAD,
        reason=f"the painting is over {MAX_UPLOAD // 2**20} MB; give a smaller file",
    )


async def _read_part(part: BodyPartReader, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(_UPLOAD_CHUNK):
        size += len(chunk)
        if size > limit:
            raise (
                _too_large()
                if limit == MAX_UPLOAD
                else web.HTTPBadRequest(reason=f"the field {part.name} is over {limit} bytes")
            )
        chunks.append(chunk)
    return b"".join(chunks)
