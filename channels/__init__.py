"""Rasa input channels faqbot adapts, registered in credentials.yml by class path.

Only Rasa loads this package; ``bot/`` never imports it (nor rasa).
"""
