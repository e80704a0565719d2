"""The demo shop page, with the chat widget embedded as any site would embed it."""

from __future__ import annotations

from flask import Blueprint, render_template

from bot.web.common import settings

bp = Blueprint("shop", __name__)


@bp.get("/")
def index() -> str:
    return render_template("shop.html", rasa_url=settings().widget_rasa_url)
