"""Builders of everything the package ships: domain data, the fluency scorer, the intent NLU, LM packs."""
