"""Layer 2, staging: raw text rows to typed, validated rows (`staging` schema).

Parses cell text into canonical values, applies the contract's row rules
(pandera, rules.py), resolves duplicates across files, and computes the
counting rules as columns. Every data row ends staged, rejected or superseded.
"""
