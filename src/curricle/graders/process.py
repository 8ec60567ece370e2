"""``process``: every written step of an answer, scored against the expected steps."""

from __future__ import annotations

from curricle.graders.base import Grade, Grader


def split_steps(text: str, separator: str) -> list[str]:
    return [s.strip() for s in text.split(separator)]


class ProcessGrader(Grader):
    def grade(self, item, completion: str) -> Grade:
        want = (getattr(item, "meta", None) or {}).get("steps")
        if not want:
            return Grade(None, "item has no expected steps")
        got = split_steps(completion, self.config.separator)
        steps = tuple(float(i < len(got) and got[i] == str(w).strip()) for i, w in enumerate(want))
        # The answer is the last step written, wherever it falls.
        outcome = float(bool(got) and got[-1] == str(want[-1]).strip())
        score = outcome if self.config.reward == "outcome" else sum(steps) / len(steps)
        return Grade(score, "", steps)
