"""Handing a conversation to a person: tickets, their life, and what goes out about them.

``models`` (tickets, messages, statuses and the errors; no storage),
``store`` (the tickets in faqbot's database, with the transition table),
``packets`` (what a webhook receives), ``outbox`` / ``webhook`` / ``mail``
(delivery with retries), ``replies`` (how an agent's reply reaches the
customer), ``spool`` (handoffs kept while the store is away), ``outlook`` (queue,
wait and business hours, ``bot.hours``), ``context`` (what the bot
collected). It builds on ``bot.storage`` and knows nothing of Rasa.
"""
