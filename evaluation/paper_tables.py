"""The paper's reference numbers (mTAD, EMNLP 2024 Findings), printed beside ours in reports and ``stats --paper``.

Typed in from the paper: Table 2 (distances of JTS and STS, single traits), Table 3 (DIY trends), Table 4
(distances of the multi-trait combination methods), Table 5 (turn-level rates) and Table 13 (statistics of the
generated training data). Distances are Wasserstein for engagement and verbosity, Kolmogorov-Smirnov for the other
traits.
"""

from __future__ import annotations

TRAIT_ORDER = ("engagement", "cooperativeness", "exploration", "tolerance", "verbosity", "emotion", "fluency",
               "repetition")

# Table 2: {trait: {intensity: (JTS, STS)}}
TABLE2 = {
    "engagement": {"low": (0.25, 0.10), "regular": (0.58, 2.18), "high": (2.89, 2.70)},
    "cooperativeness": {"low": (0.24, 0.16), "regular": (0.10, 0.26), "high": (0.17, 0.10)},
    "exploration": {"low": (0.26, 0.12), "regular": (0.09, 0.07), "high": (0.34, 0.33)},
    "tolerance": {"low": (0.66, 0.28), "regular": (0.20, 0.12), "high": (0.70, 0.34)},
    "verbosity": {"low": (0.72, 0.17), "regular": (0.12, 0.26), "high": (2.10, 0.12)},
    "emotion": {"low": (0.62, 0.11), "regular": (0.17, 0.06), "high": (0.66, 0.20)},
    "fluency": {"low": (0.74, 0.22), "regular": (0.07, 0.15), "high": (0.75, 0.27)},
    "repetition": {"low": (0.57, 0.35), "regular": (0.09, 0.08), "high": (0.69, 0.45)},
}

# Table 3: {trait: {simulator: (low, regular, high)}} on unseen DIY tasks
TABLE3 = {
    "engagement": {"jts": (4.5, 8.77, 12.96), "sts": (5.08, 9.96, 12.73)},
    "cooperativeness": {"jts": (0.7, 0.87, 0.97), "sts": (0.66, 0.81, 0.99)},
    "exploration": {"jts": (0.04, 0.18, 0.24), "sts": (0.02, 0.13, 0.28)},
    "tolerance": {"jts": (0.09, 0.12, 0.17), "sts": (0.07, 0.11, 0.22)},
    "verbosity": {"jts": (3.48, 4.08, 5.15), "sts": (3.12, 4.28, 7.32)},
    "emotion": {"jts": (0.51, 0.53, 0.55), "sts": (0.43, 0.55, 0.63)},
    "fluency": {"jts": (0.64, 0.70, 0.72), "sts": (0.46, 0.72, 0.90)},
    "repetition": {"jts": (0.05, 0.06, 0.07), "sts": (0.03, 0.08, 0.11)},
}

# Table 4: {group: {method: distances in TRAIT_ORDER}}; group "avg" or the number of combined traits
TABLE4 = {
    "avg": {"sampling": (2.61, 0.28, 0.29, 0.18, 0.87, 0.26, 0.33, 0.27),
            "mtad": (2.76, 0.27, 0.30, 0.16, 0.81, 0.26, 0.31, 0.26),
            "mtad-la": (2.06, 0.26, 0.25, 0.18, 0.48, 0.24, 0.30, 0.20)},
    "2": {"sampling": (1.70, 0.25, 0.26, 0.16, 0.88, 0.20, 0.28, 0.23),
          "mtad": (1.76, 0.25, 0.28, 0.14, 0.80, 0.20, 0.26, 0.22),
          "mtad-la": (1.21, 0.25, 0.22, 0.16, 0.58, 0.21, 0.26, 0.19)},
    "3": {"sampling": (2.27, 0.29, 0.29, 0.21, 1.05, 0.21, 0.27, 0.35),
          "mtad": (2.66, 0.28, 0.31, 0.18, 1.06, 0.18, 0.27, 0.34),
          "mtad-la": (1.91, 0.26, 0.26, 0.19, 0.38, 0.17, 0.28, 0.24)},
    "4": {"sampling": (6.93, 0.36, 0.40, 0.23, 0.47, 0.65, 0.65, 0.28),
          "mtad": (6.98, 0.36, 0.36, 0.23, 0.34, 0.65, 0.62, 0.29),
          "mtad-la": (5.79, 0.32, 0.32, 0.18, 0.29, 0.50, 0.55, 0.19)},
}

# Table 5: {metric: (single-trait STS, multi-trait mTAD-LA)}
TABLE5 = {"degeneration": (0.03, 0.04), "uniqueness": (0.48, 0.46), "response_quality": (1.46, 1.43)}

# Table 13 (Appendix B.5): statistics of the paper's filtered training data, per single-trait profile.
# {canonical profile: (# dialogues, {trait: (mean, std)})}; the traits' identifying metrics in TRAIT_ORDER
# (turns, cooperativeness rate, exploration rate, tolerance rate, words, emotion, fluency, word overlap).
# Regular's 9,000 are the train share (90%) of the 10k dialogues of Appendix B.4.
_TABLE13_ROWS = {
    "regular": (9000, (9.38, 4.4), (0.86, 0.12), (0.15, 0.13), (0.12, 0.08), (4.03, 0.96), (0.55, 0.06),
                (0.67, 0.16), (0.07, 0.07)),
    "engagement=low": (5731, (4.65, 1.44), (0.86, 0.16), (0.08, 0.12), (0.14, 0.1), (3.83, 1.07), (0.55, 0.08),
                       (0.68, 0.2), (0.04, 0.06)),
    "engagement=high": (3911, (15.55, 3.51), (0.87, 0.09), (0.2, 0.11), (0.09, 0.05), (4.18, 0.77), (0.55, 0.04),
                        (0.65, 0.11), (0.08, 0.05)),
    "cooperativeness=low": (5510, (9.71, 5.0), (0.68, 0.1), (0.12, 0.11), (0.14, 0.09), (4.1, 1.01),
                            (0.55, 0.06), (0.7, 0.15), (0.05, 0.05)),
    "cooperativeness=high": (5222, (8.9, 4.12), (0.99, 0.02), (0.17, 0.14), (0.09, 0.07), (3.96, 0.9),
                             (0.55, 0.06), (0.64, 0.16), (0.09, 0.08)),
    "exploration=low": (3830, (7.6, 3.95), (0.84, 0.14), (0.01, 0.02), (0.12, 0.08), (3.56, 0.89), (0.56, 0.06),
                        (0.67, 0.18), (0.08, 0.08)),
    "exploration=high": (3543, (10.58, 4.5), (0.88, 0.1), (0.32, 0.08), (0.12, 0.08), (4.6, 0.88), (0.53, 0.05),
                         (0.67, 0.15), (0.06, 0.06)),
    "tolerance=low": (1800, (9.9, 5.09), (0.86, 0.12), (0.18, 0.12), (0.02, 0.03), (4.12, 0.94), (0.53, 0.05),
                      (0.69, 0.14), (0.06, 0.06)),
    "tolerance=high": (1122, (10.96, 5.83), (0.78, 0.13), (0.2, 0.13), (0.21, 0.05), (4.14, 0.94), (0.54, 0.05),
                       (0.68, 0.15), (0.06, 0.06)),
    "verbosity=low": (6214, (9.15, 4.26), (0.87, 0.12), (0.12, 0.11), (0.12, 0.08), (2.93, 0.4), (0.56, 0.05),
                      (0.66, 0.16), (0.06, 0.07)),
    "verbosity=high": (8992, (9.31, 4.32), (0.86, 0.12), (0.15, 0.13), (0.12, 0.08), (7.21, 1.13), (0.53, 0.07),
                       (0.62, 0.16), (0.1, 0.07)),
    "emotion=low": (8206, (9.53, 4.32), (0.86, 0.12), (0.16, 0.13), (0.11, 0.08), (4.26, 0.93), (0.45, 0.04),
                    (0.68, 0.15), (0.07, 0.06)),
    "emotion=high": (8115, (9.55, 4.41), (0.86, 0.12), (0.15, 0.12), (0.12, 0.07), (3.82, 0.91), (0.64, 0.04),
                     (0.66, 0.15), (0.07, 0.07)),
    "fluency=low": (8318, (9.55, 4.38), (0.87, 0.12), (0.15, 0.12), (0.12, 0.07), (3.92, 0.98), (0.56, 0.06),
                    (0.35, 0.12), (0.07, 0.07)),
    "fluency=high": (8918, (9.26, 4.36), (0.86, 0.12), (0.15, 0.13), (0.12, 0.08), (4.14, 0.89), (0.54, 0.06),
                     (0.95, 0.05), (0.07, 0.07)),
    "repetition=low": (5224, (8.37, 4.0), (0.85, 0.13), (0.14, 0.12), (0.12, 0.08), (3.83, 0.87), (0.55, 0.06),
                       (0.68, 0.15), (0.01, 0.01)),
    "repetition=high": (3103, (10.02, 4.34), (0.9, 0.11), (0.13, 0.13), (0.11, 0.07), (3.94, 0.94), (0.55, 0.05),
                        (0.65, 0.15), (0.16, 0.05)),
}
TABLE13 = {profile: {"n": row[0], "metrics": dict(zip(TRAIT_ORDER, row[1:]))}
           for profile, row in _TABLE13_ROWS.items()}
# Table 13's traits whose values do not depend on the scorers (emotion and fluency use the paper's RoBERTa and
# CoLA BERT, which cannot be shipped; ours are VADER and our own fluency model, on another scale).
TABLE13_SCORER_FREE = ("engagement", "cooperativeness", "exploration", "tolerance", "verbosity", "repetition")
