"""``curricle demo``: the pipeline end to end on built-in sources (:mod:`curricle.demo.command`)."""
