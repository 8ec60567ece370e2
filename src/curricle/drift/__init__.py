"""``curricle drift``: what changed between two data versions, judged against the data's own noise.

- :mod:`~curricle.drift.config`: the settings (``--config``) and the registry of sections;
- :mod:`~curricle.drift.corpus`: one side as arrays (a token store's documents per domain);
- :mod:`~curricle.drift.text`: a side that is text (hashed word bins as tokens), for
  :mod:`~curricle.drift.curated` (curate outputs) and :mod:`~curricle.drift.tasks` (task sets);
- :mod:`~curricle.drift.passrate`: a checkpoint's pass rate on two task sets, and its shift;
- :mod:`~curricle.drift.stats`: the statistics as pure functions;
- :mod:`~curricle.drift.sections`: one file per kind of statistic (mixture, metadata, tokens, content,
  near_duplicates, reference, tasks);
- :mod:`~curricle.drift.verdict`: the split-half calibration's verdicts (OK / WARN / DRIFT);
- :mod:`~curricle.drift.lineage`: documents retained / added / removed per domain;
- :mod:`~curricle.drift.compare`: the comparison as a function (drift.json's content);
- :mod:`~curricle.drift.command`: the verb.
"""
