"""faqbot's intent classifier for Rasa: logistic regression on the pipeline's features, sharp enough for the fallback.

faqbot's NLU only tells small talk, requests for a person, ratings and the
like from questions (a dozen intents; questions are answered by the
retrieval). DIET on TensorFlow did that at about a quarter of the Rasa
server's CPU per turn (docs/benchmarks.md, "The intent classifier"). Rasa's
own ``LogisticRegressionClassifier`` is as accurate in cross-validation but
fixes scikit-learn's regularisation at ``C=1``, which spreads the
probability of a mixed message ("my parcel is lost, I need a human") over
several intents, below the ``FallbackClassifier`` threshold. This component
is that classifier with ``C`` as a setting of the pipeline (config.yml):
weaker regularisation gives the confident, still well-ranked probabilities
the fallback threshold expects. Everything else (features, class weights,
persistence through skops, ranking output) is Rasa's.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.sparse_featurizer.sparse_featurizer import SparseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

#: scikit-learn's inverse regularisation strength when config.yml does not set ``C``.
DEFAULT_C = 1.0


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class IntentClassifier(LogisticRegressionClassifier):
    """Rasa's logistic-regression intent classifier with its regularisation ``C`` configurable."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Rasa's defaults plus ``C``."""
        return {**LogisticRegressionClassifier.get_default_config(), "C": DEFAULT_C}

    def __init__(
        self,
        config: dict[str, Any],
        name: str,
        model_storage: ModelStorage,
        resource: Resource,
    ) -> None:
        super().__init__(config, name, model_storage, resource)
        c = self.config["C"]
        if isinstance(c, bool) or not isinstance(c, (int, float)) or c <= 0:
            raise ValueError(f"{type(self).__name__}: C must be a positive number, got {c!r}")
        self.clf.set_params(C=float(c))

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> IntentClassifier:
        """A new, untrained classifier (Rasa's graph calls this before training)."""
        return cls(config, execution_context.node_name, model_storage, resource)


#: Upper bounds of the token-count buckets (the last bucket is open): 1, 2, 3, 4-5, 6-8, 9-12, 13+.
LENGTH_BUCKETS = (1, 2, 3, 5, 8, 12)
#: Upper bounds of the clause-count buckets: 1, 2, 3+.
CLAUSE_BUCKETS = (1, 2)
#: What separates clauses: Latin and Arabic commas and semicolons, sentence ends.
CLAUSE_BREAKS = re.compile(r"[,;.!?،؛؟]+")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class ShapeFeaturizer(SparseFeaturizer, GraphComponent):
    """How long a message is and how many clauses it has, as one-hot sentence features.

    Word and character n-grams say what a message contains, not how much: "I want
    to talk to a person" and "my parcel is lost, I want to talk to a person" share
    every n-gram of the request, and a linear classifier cannot tell that the
    second also states a problem when the problem's words are new to it. The
    buckets of token and clause counts give it that, in any language.
    """

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**SparseFeaturizer.get_default_config()}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Nothing to check: the component has no options of its own."""

    def __init__(self, config: dict[str, Any], execution_context: ExecutionContext) -> None:
        super().__init__(execution_context.node_name, config)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ShapeFeaturizer:
        return cls(config, execution_context)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            tokens = message.get(TOKENS_NAMES[TEXT], [])
            if not message.get(TEXT) or not tokens:
                continue
            clauses = [part for part in CLAUSE_BREAKS.split(message.get(TEXT)) if part.strip()]
            sentence = scipy.sparse.coo_matrix(shape_features(len(tokens), len(clauses)))
            sequence = scipy.sparse.coo_matrix((len(tokens), sentence.shape[1]))
            self.add_features_to_message(sequence, sentence, TEXT, message)
        return messages


def _one_hot(value: int, bounds: tuple[int, ...]) -> list[float]:
    index = next((i for i, bound in enumerate(bounds) if value <= bound), len(bounds))
    return [1.0 if i == index else 0.0 for i in range(len(bounds) + 1)]


def shape_features(tokens: int, clauses: int) -> np.ndarray:
    """The one-hot buckets of a message's token and clause counts, as a 1 × n row."""
    return np.array([_one_hot(tokens, LENGTH_BUCKETS) + _one_hot(clauses, CLAUSE_BUCKETS)])
