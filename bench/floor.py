"""The floor: a bare Flask endpoint answering a small JSON, served by the same gunicorn
configuration as the service, so that the benchmark can say what the service costs on top
of Flask, gunicorn, the loopback and the load generator. The benchmark posts it the
typical order-sign body, which it reads and ignores: moving the request is in the floor,
the service's work on it is not."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.route("/floor", methods=["GET", "POST"])
    def floor() -> Response:
        request.get_data()
        return jsonify({"cards": []})

    return app
