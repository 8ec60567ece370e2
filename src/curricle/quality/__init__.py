"""``curricle quality``: a quality classifier trained on the user's reference data (DCLM's
recipe), whose score the ``quality-model`` curation step writes into every document."""
