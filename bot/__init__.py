"""faqbot: a self-service FAQ chatbot with human handoff.

This package never imports rasa or rasa_sdk; the dialogue engine talks to it
through the thin actions in ``actions/``.
"""

__version__ = "0.1.0"
