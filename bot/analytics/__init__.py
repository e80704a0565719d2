"""What the operator learns from the conversations: every number of the report, and where they come from.

``conversations`` reads customers' questions from Rasa's tracker store;
``outcomes`` classifies each conversation once (contained, handed off,
abandoned) and says what it adds to each number; ``metrics`` sums them into
the report and ``drilldown`` lists the conversations behind each number, so
a number and its list cannot disagree; ``unanswered`` groups the questions
the bot could not answer; ``popular`` the most asked FAQs per language (the
widget's suggestions when the editors picked none); ``evaluation`` measures answer quality on
labelled questions (``faqbot eval``). Modules use each other's public names
only; nothing here keeps live objects between calls (the report's
``unanswered.CachedClustering`` is handed in by its owner, ``bot.services``).
"""
