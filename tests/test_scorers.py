"""Per-utterance scorers: the shipped fluency model's held-out quality, VADER, HF classifiers, registration."""

import json
from pathlib import Path

import numpy as np
import pytest

import mtad_env
from mtad_env.statistics import auroc
from mtad_env.scorers import FluencyModelScorer, HFClassifierScorer, VaderSentimentScorer, make_scorer

LABELLED = Path(__file__).parent / "data" / "fluency_labelled.jsonl"


def test_fluency_model_reaches_auroc_0_9_on_hand_labelled_held_out_set():
    rows = [json.loads(line) for line in LABELLED.read_text().splitlines() if line.strip()]
    assert len(rows) >= 200
    scores = FluencyModelScorer()([r["text"] for r in rows])
    assert auroc(scores, [r["fluent"] for r in rows]) >= 0.9


def test_auroc_matches_hand_computation():
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)


def test_vader_maps_to_unit_interval():
    s = VaderSentimentScorer()(["i love this, it is wonderful", "this is awful and i hate it", "next step"])
    assert s[0] > 0.8 and s[1] < 0.2 and s[2] == pytest.approx(0.5)


def _tiny_classifier(path, labels):
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "next", "step"]
    (path / "vocab.txt").write_text("\n".join(vocab))
    BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=len(labels),
                        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    BertForSequenceClassification(config).save_pretrained(path)


def test_local_hf_classifier_scores_as_expected_label_value(tmp_path):
    _tiny_classifier(tmp_path, ["negative", "neutral", "positive"])
    scorer = make_scorer(f"hf:{tmp_path}")
    assert isinstance(scorer, HFClassifierScorer) and scorer._model is None  # loaded only when asked
    scores = scorer(["good step", "bad", "next"])
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))


def test_set_scorer_swaps_the_emotion_model(tmp_path):
    _tiny_classifier(tmp_path, ["unacceptable", "acceptable"])
    try:
        mtad_env.set_scorer("emotion", f"hf:{tmp_path}")
        value = mtad_env.dialogue_metrics([{"intent": "next", "user": "good step"}])["emotion"]
        assert 0 <= value <= 1
    finally:
        mtad_env.set_scorer("emotion", "vader")


def test_bad_scorer_specs_are_refused(tmp_path):
    with pytest.raises(mtad_env.InvalidValueError, match="valid: words, vader, fluency, hf:PATH"):
        make_scorer("roberta")
    with pytest.raises(mtad_env.InvalidValueError, match="does not exist"):
        make_scorer(f"hf:{tmp_path / 'missing'}")
    with pytest.raises(mtad_env.InvalidValueError, match="dialogue-level"):
        mtad_env.set_scorer("engagement", "vader")
