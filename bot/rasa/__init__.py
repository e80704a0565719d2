"""faqbot's side of the contract with Rasa, over HTTP and Rasa's stores, never an import of rasa.

``names`` (every action, slot, intent, entity and response name code uses,
checked against domain.yml), ``tracker`` (Rasa's conversation history as
``TrackerEvent``\\ s, from the SQL tracker store or the HTTP API), ``client``
(the HTTP API, with short-lived JWTs), ``relay`` (the desk's messages and
commands to and from Rasa), ``widget`` (what the website widget sees of a
conversation), ``responses`` (domain.yml's texts, for the widget's
greeting), ``messages`` (what a message must be before Rasa's NLU reads it)
and ``channels`` (Rasa's credentials.yml from faqbot's template).
"""
