"""Development tools that build the packaged lexicon and tagger weights (need ``faker``; not used at run time)."""
