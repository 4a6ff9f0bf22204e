"""The paper's reference numbers (mTAD, EMNLP 2024 Findings), printed beside ours in the suite report.

Typed in from ``shared/seed/mtad_paper.txt``: Table 2 (distances of JTS and STS, single traits), Table 3 (DIY
trends), Table 4 (distances of the multi-trait combination methods) and Table 5 (turn-level rates). Distances are
Wasserstein for engagement and verbosity, Kolmogorov-Smirnov for the other traits.
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
