"""``aioli``: the mixing law's interaction matrix estimated online, as released.

Chen, Hu, Lourie, Cho and Ré, 2024, "Aioli: A Unified Optimization Framework for Language Model
Data Mixing". This follows ``AioliTrainer`` in the authors' release (HazyResearch/aioli,
``trainer/aioli_trainer.py``: ``train`` and ``learn_params_subroutine``). The mixing law is
linear in the mixture: over a short stretch, training on mixture ``q`` changes domain ``i``'s
held-out loss by ``-sum_j A_ij q_j``. Aioli estimates ``A`` from the run itself, round by round,
and moves the mixture by exponentiated gradient on it.

**A round** (``update_every`` steps, the release's ``update_steps``; the first starts after
``warmup_steps``). With ``k`` domains, ``R = lp_rounds``, ``L = lp_steps``, ``f =
one_hot_factor``, a round begins with ``k R`` *sweeps* of ``L`` steps each, ``D = k R L`` steps
in all, then trains on the new mixture for the rest of the round:

1. The held-out loss ``l`` is measured at the round's start.
2. The sweep order is ``R`` random permutations of the domains, one after another. The sweep
   of domain ``j`` trains on ``q_j``: ``f`` of the tokens from ``j``, ``(1 - f) / (k - 1)`` from
   each other domain. After it the held-out loss ``l'`` is measured, and
   ``G[:, j] += l - l'`` (the decrease of every domain's loss), ``l = l'``.
3. ``G /= R``; with ``f < 1`` the mixtures are undone by solving the linear law row by row,
   ``A[i] = W^-1 G[i]`` (``W``'s row ``j`` is ``q_j``); with ``f = 1``, ``A = G``.
4. ``normalize_a`` (the release's ``aioli_normalize_A``): if ``min A < 0``, ``A -= min A``;
   then ``A /= sum A``.
5. The update, with ``g_j = sum_i A_ij`` (the total held-out loss decrease that training on
   ``j`` brings, over every domain)::

       ema set:   S = A (first round), S = (1 - ema) A + ema S (later);   p_j ~ exp(eta sum_i S_ij)
       ema None:  p_j ~ p_j^prev exp(eta g_j), from p = uniform before the first round

   The base is the uniform mixture, as in the release (its ``weights_init`` of ones): the
   mixture the run trained on before the first round does not enter the update.
6. The rest of the round trains on ``p``.

Every weight change is an audit line: each sweep's mixture (round, sweep, the domain it
emphasizes, the held-out losses just measured) and each round's new mixture (the column sums
``sum_i S_ij`` it was computed from, the largest named).

**Defaults** are the release's README command (``scripts/arxiv_stackexchange/aioli/run.sh``):
``update_steps`` 250, ``lp_rounds`` 4, ``lp_steps`` 4, ``eta`` 0.2, ``ema`` 0.1,
``one_hot_factor`` 0.625, ``aioli_normalize_A`` on. The release's other scripts: 3 domains
``eta`` 0.1, ``ema`` 0.5, ``lp_steps`` 6, ``one_hot_factor`` 0.5; 7 domains ``lp_rounds`` 2,
``lp_steps`` 10, ``eta`` 1, ``update_steps`` 200, ``one_hot_factor`` 0.75. Its README suggests
leaving ``ema`` unset at first (``ema: null`` here). No other smoothing: the shared floor and
cap are off (``min_weight: 0``, ``max_change: 1``); set, they apply to each round's new
mixture (moved from the one in use when the round began), never to the sweeps' mixtures,
which the estimate needs exact.

**Where it differs from the release**, and why:

- *Held-out loss* is curricle's evaluation of the run's held-out rows
  (``train.eval_rows_per_domain`` rows per domain, the same rows every time); the release
  scores its validation set. The controller asks the loop for an evaluation at the start of
  each round and at the end of each sweep (:meth:`Aioli.wants_eval`), besides every
  ``train.eval_every``; each is counted in ``eval_tokens`` (``1 + k R`` evaluations a round).
- *The first round* starts after ``warmup_steps`` (at least 1) steps on the run's own
  mixture: curricle evaluates after a step, never before the first. The release starts
  sweeping at step 0 (its "restricted" setting, ``aioli_prior`` for ``prior_steps``, is this
  with ``warmup_steps`` steps of the schedule's mixture).
- *The sweep order* comes from the run's seed and the round (the release draws it from
  numpy's global generator).
- *A sweep's mixture* is drawn by the sampler as token weights at the run's batch (rows per
  domain by largest remainder, the rounding carried to the next step): over a sweep of ``L``
  steps its proportions are within a row per domain of ``q_j``. The release builds a dataset
  of those proportions for each sweep.
- *A constant matrix* (every entry equal after the shift) normalizes to zeros, no change,
  where the release divides 0 by 0.
- *A round whose sweeps were not all measured in order* (the stability guard rolled the run
  back inside it) makes no update: the mixture goes back to the last one learned (uniform
  before any) and the audit line says why.
- Not implemented: the release's Skill-It initialization (``graph_path``) and its diagonal
  ablation (``aioli_diagonal``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curricle.controllers.base import AuditEntry, Controller, ControllerContext, DomainStats, apply_floor, limit_change
from curricle.controllers.config import AioliConfig
from curricle.errors import CurricleError

#: Salt of the sweep order's random stream (with the run's seed and the round).
_ORDER_SALT = 0xA101


def sweep_mixtures(k: int, one_hot_factor: float) -> np.ndarray:
    """``W``: row ``j`` is the mixture of domain ``j``'s sweep, ``f`` on ``j`` and
    ``(1 - f) / (k - 1)`` on every other domain."""
    w = np.full((k, k), (1.0 - one_hot_factor) / (k - 1))
    np.fill_diagonal(w, one_hot_factor)
    return w


def interaction_matrix(gains: np.ndarray, lp_rounds: int, one_hot_factor: float, normalize: bool) -> np.ndarray:
    """``A`` from a round's summed loss decreases ``gains[i, j]`` (domain ``i``'s, over the
    sweeps of domain ``j``): averaged over the ``lp_rounds`` sweeps, the sweep mixtures solved
    out (``A[i] = W^-1 G[i]``) unless they are one-hot, then (``normalize``) shifted to be
    non-negative and scaled to sum 1."""
    g = np.asarray(gains, dtype=np.float64) / lp_rounds
    k = g.shape[0]
    a = g if one_hot_factor == 1 else np.linalg.solve(sweep_mixtures(k, one_hot_factor), g.T).T
    if normalize:
        low = a.min()
        if low < 0:
            a = a - low
        total = a.sum()
        a = a / total if total > 0 else np.zeros_like(a)
    return a


def softmax(scores: np.ndarray) -> np.ndarray:
    """``exp(scores)`` normalized (shifted by the maximum first: the same mixture)."""
    e = np.exp(scores - scores.max())
    return e / e.sum()


class Aioli(Controller):
    """See the module doc."""

    name = "aioli"
    updates_on = "eval"
    in_hf_trainer = False
    hf_refusal = ("aioli needs held-out evaluations at the ends of its sweeps, which curricle's loop runs on "
                  "request; train it with `curricle train`")

    def __init__(self, config: AioliConfig, context: ControllerContext):
        super().__init__(config, context)
        k = len(self.domains)
        if k < 2:
            raise CurricleError("controller.kind: aioli mixes domains; the run has only one")
        f = config.one_hot_factor
        if f <= 1.0 / k:
            raise CurricleError(f"controller.one_hot_factor: {f:g} does not emphasize a sweep's domain among {k} "
                                f"domains; it must be above 1/{k} = {1.0 / k:.4g}")
        self.n_sweeps = k * config.lp_rounds
        self.sweep_steps = self.n_sweeps * config.lp_steps
        if self.sweep_steps >= config.update_every:
            raise CurricleError(
                f"controller.update_every: a round of {config.update_every} steps leaves no steps after its sweeps "
                f"({k} domains x lp_rounds {config.lp_rounds} x lp_steps {config.lp_steps} = {self.sweep_steps}); "
                f"raise it above {self.sweep_steps} or lower lp_rounds / lp_steps")
        self.mixtures = sweep_mixtures(k, f)
        self.seed = context.seed
        # What the rounds learned.
        self.scores = np.zeros(k)  # log-weights: eta * the column sums (accumulated without an EMA)
        self.smoothed_a: np.ndarray | None = None  # the EMA of A (with ema)
        self.rounds_done = 0
        # The round being measured.
        self.round: int | None = None
        self.gains = np.zeros((k, k))
        self.prev_loss: np.ndarray | None = None
        self.prev_step: int | None = None
        self.before: np.ndarray | None = None  # the weights in use when the round began
        self.complete = False  # every sweep so far measured in order

    # -- the schedule --------------------------------------------------------------------------

    def _position(self, step: int) -> tuple[int, int] | None:
        """``(round, sweeps done)`` when ``step`` ends a round's start or one of its sweeps."""
        cfg = self.config
        pos = step - cfg.warmup_steps
        if pos < 0:
            return None
        t, r = divmod(pos, cfg.update_every)
        if r > self.sweep_steps or r % cfg.lp_steps:
            return None
        return t, r // cfg.lp_steps

    def wants_eval(self, step: int) -> bool:
        return self._position(step) is not None

    def sweep_order(self, round_: int) -> list[int]:
        """The domains' sweeps in round ``round_``: ``lp_rounds`` permutations, one after another."""
        rng = np.random.default_rng([self.seed, _ORDER_SALT, round_])
        k = len(self.domains)
        return [int(j) for _ in range(self.config.lp_rounds) for j in rng.permutation(k)]

    def learned(self) -> np.ndarray:
        """The mixture the rounds so far have learned (uniform before the first)."""
        return softmax(self.scores) if self.rounds_done else np.full(len(self.domains), 1.0 / len(self.domains))

    # -- the update ----------------------------------------------------------------------------

    def update(self, step: int, stats: DomainStats) -> tuple[np.ndarray, AuditEntry] | None:
        where = self._position(step)
        if where is None:
            return None
        t, done = where
        if stats.eval_loss is None:
            raise CurricleError(f"controller.kind: aioli needs held-out loss after step {step}, and the run did not "
                                f"evaluate (it has no held-out rows)")
        loss = np.asarray(stats.eval_loss, dtype=np.float64)
        if not np.all(np.isfinite(loss)):
            bad = self.domains[int(np.flatnonzero(~np.isfinite(loss))[0])]
            raise CurricleError(f"controller.kind: aioli needs every domain's held-out loss; domain '{bad}' has "
                                f"none (raise prepare.min_heldout_docs)")
        current = np.asarray(stats.weights, dtype=np.float64)
        cfg = self.config
        order = self.sweep_order(t)
        if done == 0:  # the round begins
            self.round, self.gains = t, np.zeros_like(self.gains)
            self.before, self.complete = current.copy(), True
        elif self.round == t and self.complete and self.prev_step == step - cfg.lp_steps:
            self.gains[:, order[done - 1]] += self.prev_loss - loss
        else:  # a rollback (or a start) inside the round: this round cannot be estimated
            if self.round != t:
                self.round, self.gains, self.before = t, np.zeros_like(self.gains), None
            self.complete = False
        self.prev_loss, self.prev_step = loss, step
        if done < self.n_sweeps:
            j = order[done]
            new = self.mixtures[j].copy()
            signal = {d: float(x) for d, x in zip(self.domains, loss)}
            reason = (f"aioli round {t}: sweep {done + 1}/{self.n_sweeps}, {cfg.lp_steps} steps with "
                      f"{cfg.one_hot_factor:g} of the tokens from '{self.domains[j]}' (signal: held-out loss now)")
        else:
            new, signal, reason = self._finish(t)
        if np.allclose(new, current, rtol=0, atol=1e-12):
            return None
        return new, AuditEntry(step, [float(x) for x in current], [float(x) for x in new], signal, reason)

    def _finish(self, t: int) -> tuple[np.ndarray, dict[str, float], str]:
        """The round's new mixture (after its last sweep), its signal and reason."""
        cfg = self.config
        if not self.complete:
            target = self.learned()
            signal: dict[str, float] = {}
            reason = (f"aioli round {t}: not every sweep was measured in order (the run rolled back inside the "
                      f"round); no update, back to the last mixture learned")
        else:
            a = interaction_matrix(self.gains, cfg.lp_rounds, cfg.one_hot_factor, cfg.normalize_a)
            if cfg.ema is None:
                used = a
                self.scores = self.scores + cfg.eta * a.sum(0)
            else:
                used = a if self.smoothed_a is None else (1 - cfg.ema) * a + cfg.ema * self.smoothed_a
                self.smoothed_a = used
                self.scores = cfg.eta * used.sum(0)
            self.rounds_done += 1
            target = self.learned()
            sums = used.sum(0)
            top = int(np.argmax(sums))
            signal = {d: float(x) for d, x in zip(self.domains, sums)}
            reason = (f"aioli round {t}: exponentiated-gradient step (eta {cfg.eta:g}) on the estimated A's column "
                      f"sums (held-out loss decrease from training on each domain; signal); largest "
                      f"'{self.domains[top]}' {sums[top]:.4g}")
        reference = self.before if self.before is not None else target
        new = limit_change(reference, apply_floor(target, cfg.min_weight), cfg.max_change)
        return new, signal, reason

    # -- state ---------------------------------------------------------------------------------

    def extra_state(self) -> dict[str, Any]:
        def listed(x):
            return None if x is None else np.asarray(x).tolist()

        return {"scores": self.scores.tolist(), "smoothed_a": listed(self.smoothed_a),
                "rounds_done": self.rounds_done, "round": self.round, "gains": self.gains.tolist(),
                "prev_loss": listed(self.prev_loss), "prev_step": self.prev_step, "before": listed(self.before),
                "complete": self.complete}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        def array(x):
            return None if x is None else np.array(x, dtype=np.float64)

        self.scores = np.array(state["scores"], dtype=np.float64)
        self.smoothed_a = array(state["smoothed_a"])
        self.rounds_done, self.round = int(state["rounds_done"]), state["round"]
        self.gains = np.array(state["gains"], dtype=np.float64)
        self.prev_loss, self.prev_step = array(state["prev_loss"]), state["prev_step"]
        self.before, self.complete = array(state["before"]), bool(state["complete"])
