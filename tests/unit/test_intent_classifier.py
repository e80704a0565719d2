"""channels/intent_classifier.py: faqbot's Rasa NLU components, trained and run for real on Rasa's graph classes.

The dialogue tests (tests/integration/test_dialogue.py) check the trained model on customer messages; these
check the components themselves: the shape features, the regularisation setting, persistence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

intent_classifier = pytest.importorskip("channels.intent_classifier")
from rasa.engine.graph import ExecutionContext, GraphSchema  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer  # noqa: E402
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer  # noqa: E402
from rasa.shared.nlu.constants import TEXT  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402
from rasa.shared.nlu.training_data.training_data import TrainingData  # noqa: E402

IntentClassifier = intent_classifier.IntentClassifier
ShapeFeaturizer = intent_classifier.ShapeFeaturizer
shape_features = intent_classifier.shape_features

EXAMPLES = {
    "request_human": ["I want to talk to a person", "a human please", "connect me to an agent", "real person"],
    "request_human_with_problem": [
        "my order is late, I want to talk to a person",
        "the sofa is broken, connect me to an agent",
        "I was charged twice, a human please",
        "my refund never came, real person",
    ],
    "greet": ["hello", "hi there", "good morning", "hey"],
}


def context(name: str) -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), node_name=name)


def tokenizer() -> WhitespaceTokenizer:
    return WhitespaceTokenizer.create(WhitespaceTokenizer.get_default_config(), None, None, context("tokens"))


def training_data() -> TrainingData:
    return TrainingData(
        [Message(data={TEXT: text, "intent": intent}) for intent, texts in EXAMPLES.items() for text in texts]
    )


def featurized(data: TrainingData, storage: LocalModelStorage, shape: bool) -> tuple[TrainingData, list]:
    """Tokens, word counts and (when ``shape``) the shape features on the training data; the same steps to run
    on new messages."""
    tokens = tokenizer()
    counts = CountVectorsFeaturizer.create(
        CountVectorsFeaturizer.get_default_config(), storage, Resource("counts"), context("counts")
    )
    steps: list = [tokens, counts]
    if shape:
        steps.append(
            ShapeFeaturizer.create(ShapeFeaturizer.get_default_config(), storage, Resource("shape"), context("shape"))
        )
    tokens.process_training_data(data)
    counts.train(data)
    for step in steps[1:]:
        step.process_training_data(data)
    return data, steps


def classify(steps: list, classifier: IntentClassifier, text: str) -> dict:
    message = Message(data={TEXT: text})
    for step in steps:
        step.process([message])
    classifier.process([message])
    return message.get("intent")


def trained(tmp_path: Path, c: float, shape: bool = False) -> tuple[list, IntentClassifier]:
    folder = tmp_path / f"storage-{c}-{shape}"
    folder.mkdir()
    storage = LocalModelStorage(folder)
    data, steps = featurized(training_data(), storage, shape)
    config = {**IntentClassifier.get_default_config(), "C": c}
    classifier = IntentClassifier.create(config, storage, Resource(f"intents-{c}"), context("intents"))
    classifier.train(data)
    return steps, classifier


@pytest.mark.parametrize(
    "tokens, clauses, hot",
    [(1, 1, (0, 7)), (2, 1, (1, 7)), (4, 2, (3, 8)), (5, 1, (3, 7)), (8, 3, (4, 9)), (13, 9, (6, 9))],
)
def test_shape_features_are_one_hot_buckets_of_tokens_and_clauses(tokens, clauses, hot):
    row = shape_features(tokens, clauses)
    assert row.shape == (1, 10)
    assert tuple(np.flatnonzero(row[0])) == hot


@pytest.mark.parametrize(
    "text, clauses",
    [
        ("I want to talk to a person", 1),
        ("my parcel is lost, I need a human", 2),
        ("طردي ضاع، أريد التحدث مع موظف", 2),  # the Arabic comma
        ("заказ не пришёл; позовите человека!", 2),
        ("hi. are you a bot? hello", 3),
    ],
)
def test_the_featurizer_counts_clauses_in_every_script(text, clauses):
    message = Message(data={TEXT: text})
    tokenizer().process([message])
    ShapeFeaturizer.create(ShapeFeaturizer.get_default_config(), None, None, context("shape")).process([message])
    _, sentence = message.get_sparse_features(TEXT)
    assert sentence is not None
    values = sentence.features.toarray()[0]
    assert values[7:].tolist() == shape_features(1, clauses)[0, 7:].tolist()
    assert values.sum() == 2  # one token bucket, one clause bucket


@pytest.mark.parametrize("c", [0, -1, "10", True, None])
def test_the_regularisation_must_be_a_positive_number(tmp_path, c):
    config = {**IntentClassifier.get_default_config(), "C": c}
    with pytest.raises(ValueError, match="C must be a positive number"):
        IntentClassifier.create(config, LocalModelStorage(tmp_path), Resource("x"), context("x"))


def test_weaker_regularisation_gives_the_fallback_threshold_a_confident_intent(tmp_path):
    """Rasa's own classifier fixes C at 1: on a handful of examples its best intent for a request it was
    trained on stays below the fallback threshold (0.6), so the bot would take it for a question; C=100
    (config.yml) is sure of it."""
    loose_steps, loose = trained(tmp_path, c=1.0)
    sharp_steps, sharp = trained(tmp_path, c=100.0)
    assert loose.clf.C == 1.0 and sharp.clf.C == 100.0
    text = "a human please"
    loose_intent, sharp_intent = classify(loose_steps, loose, text), classify(sharp_steps, sharp, text)
    assert loose_intent["name"] == sharp_intent["name"] == "request_human"
    assert loose_intent["confidence"] < 0.6 < sharp_intent["confidence"]


def test_the_shape_tells_a_request_with_a_problem_from_a_bare_request(tmp_path):
    """The problem's words are new to the model: without the shape features, the request's n-grams decide."""
    text = "the lamp flickers, I want to talk to a person"
    plain = classify(*trained(tmp_path, c=100.0), text)
    shaped = classify(*trained(tmp_path, c=100.0, shape=True), text)
    assert plain["name"] == "request_human"
    assert shaped["name"] == "request_human_with_problem"


def test_a_trained_classifier_loads_back_with_its_model(tmp_path):
    steps, classifier = trained(tmp_path, c=100.0)
    storage = classifier._model_storage
    loaded = IntentClassifier.load(
        {**IntentClassifier.get_default_config(), "C": 100.0}, storage, classifier._resource, context("intents")
    )
    text = "connect me to an agent"
    assert classify(steps, loaded, text) == classify(steps, classifier, text)
