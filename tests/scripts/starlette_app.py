"""An ASGI app behind `actix-https --proxy` in the end-to-end tests:
Starlette under uvicorn (run with --proxy-headers), with an HTTP route
that says what it sees and a WebSocket route that echoes (and says what
cookies came with the handshake). Run:
python3 -m uvicorn starlette_app:app --port PORT --proxy-headers."""

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect


async def echo(request):
    return JSONResponse(
        {
            "url": str(request.url),
            "client": request.client.host,
            "host": request.headers["host"],
        }
    )


async def ws_echo(websocket):
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive_text()
            if message == "close please":
                await websocket.close(code=1000)
                return
            if message == "cookies please":
                # Header values arrive as latin-1; the client sent UTF-8.
                cookie = websocket.headers.get("cookie", "")
                await websocket.send_text("cookies: " + cookie.encode("latin-1").decode())
                continue
            await websocket.send_text("echo: " + message)
    except WebSocketDisconnect:
        pass


app = Starlette(routes=[Route("/echo", echo), WebSocketRoute("/ws", ws_echo)])
