"""The servers benchmarks start in subprocesses: ``python -m bench.servers KIND --port P``.

``app``          Crisisline itself, exactly as ``crisisline serve`` runs it (``create_app``
                 from the environment, then ``socketio.run``: Werkzeug, a thread per
                 connection), except that the Socket.IO channel and the Celery queue get
                 the benchmark's own names (``BENCH_SOCKETIO_CHANNEL``, ``BENCH_CELERY_QUEUE``).
``static-twiml`` the webhook baseline: a bare Flask app answering the two voice webhooks
                 with fixed TwiML, under the same Werkzeug server (``app.run(threaded=True)``
                 is what ``socketio.run`` calls in threading mode).
``raw-socketio`` the fan-out baseline: a bare python-socketio server under the same
                 server, every ``/console`` connection in one room, ``POST /emit`` emitting
                 one payload to it (through Redis with ``--redis``, as two processes would).
``worker``       a Celery worker (with the scheduler unless ``--no-beat``), as
                 ``crisisline worker`` runs it, on the benchmark's queue.
"""
from __future__ import annotations

import argparse
import os
import time


def crisisline_app():
    """``create_app()`` from the environment, with the benchmark's Redis names."""
    from crisisline import create_app
    from crisisline.extensions import socketio

    channel = os.environ.get("BENCH_SOCKETIO_CHANNEL")
    if channel:
        socketio.server_options["channel"] = channel
    app = create_app()
    queue = os.environ.get("BENCH_CELERY_QUEUE")
    if queue:
        app.extensions["celery"].conf.task_default_queue = queue
    return app


def serve_app(port: int) -> None:
    from crisisline.cli import run_server
    run_server(crisisline_app(), "127.0.0.1", port)


def static_twiml(port: int) -> None:
    from flask import Flask, Response
    from twilio.twiml.voice_response import Gather, VoiceResponse

    from hotline.twilio_views import GREETING, NO_INPUT, QUEUE, ZH

    # the same documents the real webhooks answer with, built once
    greeting = VoiceResponse()
    gather = Gather(num_digits=1, action="/twilio/voice/menu", method="POST", timeout=6)
    gather.say(GREETING, language=ZH)
    greeting.append(gather)
    greeting.say(NO_INPUT, language=ZH)
    greeting.redirect("/twilio/voice/menu", method="POST")
    queued = VoiceResponse()
    queued.enqueue(QUEUE, wait_url="/twilio/voice/wait", wait_url_method="POST")
    documents = {"incoming": str(greeting), "menu": str(queued)}

    app = Flask("bench_static_twiml")

    @app.post("/twilio/voice/<step>")
    def answer(step: str):
        return Response(documents[step], mimetype="text/xml")

    @app.get("/login")
    def alive():
        return "ok"

    app.run(host="127.0.0.1", port=port, threaded=True, use_reloader=False)


def raw_socketio(port: int, redis_url: str | None, channel: str | None) -> None:
    import socketio
    from flask import Flask, request

    manager = socketio.RedisManager(redis_url, channel=channel) if redis_url else None
    server = socketio.Server(async_mode="threading", client_manager=manager)

    @server.on("connect", namespace="/console")
    def connect(sid, _environ, _auth=None):
        server.enter_room(sid, "everyone", namespace="/console")

    app = Flask("bench_raw_socketio")
    app.wsgi_app = socketio.WSGIApp(server, app.wsgi_app)

    @app.post("/emit")
    def emit():
        payload = {**request.get_json(), "sent_at": time.time()}
        server.emit("case.updated", payload, to="everyone", namespace="/console")
        return "", 204

    @app.get("/login")
    def alive():
        return "ok"

    app.run(host="127.0.0.1", port=port, threaded=True, use_reloader=False)


def worker(beat: bool, concurrency: int) -> None:
    app = crisisline_app()
    celery = app.extensions["celery"]
    argv = ["worker", "--loglevel=WARNING", f"--concurrency={concurrency}",
            "-Q", celery.conf.task_default_queue]
    if beat:
        argv.append("--beat")
    with app.app_context():
        celery.worker_main(argv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("app", "static-twiml", "raw-socketio", "worker"))
    parser.add_argument("--port", type=int)
    parser.add_argument("--redis", help="raw-socketio: relay through this Redis")
    parser.add_argument("--channel", help="raw-socketio: the Redis channel")
    parser.add_argument("--no-beat", dest="beat", action="store_false")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    from werkzeug.serving import BaseWSGIServer

    from crisisline.cli import LISTEN_BACKLOG
    BaseWSGIServer.request_queue_size = LISTEN_BACKLOG  # the baselines listen as the app does
    if args.kind == "app":
        serve_app(args.port)
    elif args.kind == "static-twiml":
        static_twiml(args.port)
    elif args.kind == "raw-socketio":
        raw_socketio(args.port, args.redis, args.channel)
    else:
        worker(args.beat, args.concurrency)


if __name__ == "__main__":
    main()
