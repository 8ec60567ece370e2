"""Graders: ``grade(item, completion) -> Grade(score in [0, 1] | None, reason)``.

One file per grader, registered by kind in :mod:`curricle.graders.config`. A grader that
raises gives ``Grade(None, "error: ...")``: the item is counted under that reason and left
out of the mean, never scored 0 in silence (:func:`~curricle.graders.base.grade_all`).
"""
