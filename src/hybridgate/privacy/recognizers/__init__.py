"""Recognizers used by :class:`hybridgate.privacy.pii.PIIDetector`: patterns + validators, lexicon, tagger."""
