"""Answering a question from the knowledge base: the index, the rankers and the one decision path.

``service`` (``FaqService.ask``, the single way a question is answered, over
the live index version), ``index`` and ``versions`` (building, saving and
switching index versions atomically), ``search`` (dense, sparse and fused
candidates), ``decision`` (answer, clarify or hand off), ``ranker`` and
``calibration`` (scores and their trust), ``embedder`` / ``onnx_*`` /
``adaptation`` (the embedding model and its per-KB adapter). It builds on
the file format (``bot.kb``) and nothing above it.
"""
