"""The app behind `actix-https --proxy` in the end-to-end tests: a Flask
app as the seed articles write them, behind werkzeug's ProxyFix (as its
docs say to use it behind a proxy), with one route per thing a proxy can
get wrong. Run: python3 -m flask --app proxy_app run --port PORT."""

import gzip
import json
import os

from flask import Flask, Response, redirect, request, stream_with_context, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

app = Flask(__name__)
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)


@app.route("/")
def index():
    return "the Flask app's index\n"


@app.route("/api/echo", methods=["GET", "POST", "PUT", "DELETE"])
@app.route("/echo", methods=["GET", "POST", "PUT", "DELETE"])
def echo():
    """What the app sees of the request."""
    return {
        "scheme": request.scheme,
        "host": request.host,
        "remote_addr": request.remote_addr,
        "external_url": url_for("echo", _external=True),
        "headers": [[k, v] for k, v in request.headers.items()],
        "body_length": len(request.get_data()),
    }


@app.route("/cookies")
def cookies():
    """Two Set-Cookie headers and a repeated custom header."""
    response = Response("two cookies\n")
    response.set_cookie("first", "1")
    response.set_cookie("second", "2")
    response.headers.add("X-Repeated", "one")
    response.headers.add("X-Repeated", "two")
    return response


@app.route("/go")
def go():
    """A redirect, which the client must see as such."""
    return redirect("/echo", code=302)


@app.route("/events")
def events():
    """An event stream whose second event waits for the file named by the
    `release` query parameter: the first reaches the client only if the
    proxy streams."""
    release = request.args["release"]

    def generate():
        yield "data: first\n\n"
        import time

        for _ in range(600):
            if os.path.exists(release):
                break
            time.sleep(0.05)
        yield "data: second\n\n"

    return Response(stream_with_context(generate()), mimetype="text/event-stream")


@app.route("/gzipped")
def gzipped():
    """A body the app compressed itself, with its Content-Encoding."""
    body = gzip.compress(b"compressed by the app\n" * 100, mtime=0)
    return Response(body, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})


@app.route("/upload", methods=["POST"])
def upload():
    """Counts the request body as it streams in."""
    total = 0
    while True:
        chunk = request.stream.read(65536)
        if not chunk:
            break
        total += len(chunk)
    return {"received": total}


@app.route("/download")
def download():
    """`size` bytes, generated as they are sent."""
    size = int(request.args["size"])
    chunk = b"x" * 65536

    def generate():
        left = size
        while left > 0:
            part = chunk[: min(left, len(chunk))]
            left -= len(part)
            yield part

    return Response(generate(), mimetype="application/octet-stream")


@app.route("/status")
def status():
    return json.dumps({"ok": True})
