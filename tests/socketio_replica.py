"""One replica of faqbot's socket.io channel, for tests: ``python -m tests.socketio_replica PORT``.

A Sanic app serving channels/socketio.py's blueprint as Rasa serves it (the
settings from the environment, ``FAQBOT_REDIS_URL`` included), with Rasa's
processing replaced by an echo, and ``POST /send/<session id>`` sending a
bot message through the channel's output, as Rasa's ``/execute`` does for
an agent's reply.
"""

from __future__ import annotations

import sys
from typing import Any

from rasa.core.channels.channel import UserMessage
from sanic import Sanic, response
from sanic.request import Request

from channels.socketio import SocketIOInput


def make_app() -> Sanic:
    app = Sanic("socketio_replica")
    channel = SocketIOInput(session_persistence=True)

    async def on_new_message(message: UserMessage) -> None:
        assert message.output_channel is not None
        await message.output_channel.send_response(message.sender_id, {"text": f"echo: {message.text}"})

    app.blueprint(channel.blueprint(on_new_message))

    @app.post("/send/<session_id>")
    async def send(request: Request, session_id: str) -> Any:
        output = channel.get_output_channel()
        assert output is not None
        await output.send_text_message(session_id, request.json["text"])
        return response.json({"sent": True})

    return app


if __name__ == "__main__":
    make_app().run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False)
