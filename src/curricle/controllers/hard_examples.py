"""``hard-examples``: within a domain, draw documents by how hard they were last time.

Loss-prioritized sampling at the document level, after Loshchilov & Hutter, 2015, "Online
Batch Selection for Faster Training of Neural Networks" (rank-based selection), in the spirit
of Jiang et al., 2019, "Accelerating Deep Learning by Focusing on the Biggest Losers". For each
document of the chosen domains the controller keeps its most recent mean loss, when it was
seen, and how often it was served. At each update the sampler gets, per domain, draw
probabilities from the estimates::

    stale_i  = mean + (last_i - mean) * staleness ** (step - seen_i)   an old estimate fades to the mean
    rank:    p_i ~ exp(-ln(s_e) * r_i / N)    r_i: rank of stale_i, hardest 0 (ties share their mean rank)
    loss:    p_i ~ stale_i ** (1 / temperature)
    p_i      = 0 where served_i >= max_serves                         (all capped: the cap is lifted)

Unseen documents count as hard as the hardest. With ``priority: rank`` (the default, as in the
paper) the hardest document is drawn about ``selection_pressure`` (s_e, 100) times as often as
the easiest, whatever the losses' scale: with losses of 6-7 nats, ``loss`` draws are nearly
uniform. Hard documents come back more often, easy ones are not starved (their estimates fade
back toward the mean), and none repeats without bound. The mixture weights across domains are
left to the schedule.

**Difficulty beyond loss.** A *visit* is one piece of a document in one training row (a
document cut across two rows is visited twice). Per visit the controller also takes the
piece's mean margin (target logit minus the best other logit), top-1 probability and top-1
correctness (:func:`curricle.train.loss.token_signals`, computed by the loss's own pass when
``signals`` is on), and per document keeps (:class:`DocumentState`, arrays of length n_docs):
``last`` (latest loss), ``seen`` (step), ``served`` (visits), ``ema`` (the loss smoothed over
visits: ``ema = smoothing * ema + (1 - smoothing) * loss``, the first visit sets it), ``hist``
(the last ``history`` visit losses, oldest first, NaN-padded on the left), and smoothed the same
way ``margin``, ``conf``, ``acc`` and ``calib`` (mean of top-1 probability minus top-1
correctness: the document's contribution to over-confidence). :func:`document_signals` turns
them into named columns, with the *trend* (least-squares slope of the loss over the kept
visits, per visit): falling is learning, flat is stuck (:func:`classify_trend`).
``score`` chooses what ranks (larger is harder): ``loss`` (above; the default), ``ema``,
``margin`` (its negative), ``confidence`` (one minus it), ``calibration``, ``learning`` (the
negative trend: the fastest-falling loss first; fewer than two visits counts as unseen) or
``column:<name>``, a per-document metadata column of the store (fixed, so it does not fade).

**Groups.** With ``groups``, a metadata column's values split each domain's documents into
groups. After the probabilities above, each group's expected share of the domain's drawn
*tokens* (probability times document length) is raised to its floor (``min_share``, or the
natural token share times ``gamma``) and the other groups are scaled down, each group keeping
its documents' relative probabilities (:func:`floor_groups`); this holds exactly at every
update (a group whose documents are all capped is drawn uniformly within itself to meet its
floor). Every step the run reports ``group/share/<domain>/<group>``: the cumulative share of
the domain's trained tokens (rows the guard let through) from each group, augmented documents'
rows counted in their own group (:mod:`curricle.augment`). The floors also bind augmentation:
:meth:`HardExamples.group_floors` hands them to the sampler, which caps an augmented domain's
overlay so that every group keeps its floor (:mod:`curricle.mixture.overlay_groups`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from safetensors.numpy import load_file

from curricle.controllers.base import DOCUMENTS, Controller, apply_floors
from curricle.controllers.config import DocumentStateConfig, GroupsConfig, HardExamplesConfig
from curricle.errors import CurricleError
from curricle.mixture.overlay_groups import GroupFloors
from curricle.train import checkpoint

#: Controllers whose checkpoints hold :class:`DocumentState` arrays (:func:`load_document_state`).
DOCUMENT_CONTROLLERS = ("hard-examples", "jtt")
#: Nats per visit within which a document's loss trend counts as flat (``stuck``); ``curricle
#: mine``'s default ``trend_threshold`` is the same.
TREND_THRESHOLD = 0.02


def mean_ranks(x: np.ndarray) -> np.ndarray:
    """0-based ranks of ``x`` in ascending order, equal values sharing the mean of their ranks."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts
    return (first + (counts - 1) / 2.0)[inverse]


class Visit(NamedTuple):
    """One piece of a document in one training row: its mean loss and signals, and its
    tokens (the row's columns it covers). Signals are NaN where they were not computed."""

    domain: str
    doc: int
    loss: float
    tokens: int = 0
    margin: float = float("nan")
    confidence: float = float("nan")
    accuracy: float = float("nan")


def loss_trend(hist: np.ndarray) -> np.ndarray:
    """Per row of ``hist`` (n, K), the least-squares slope of its finite values against
    their visit index (loss change per visit); NaN with fewer than two."""
    hist = np.asarray(hist, dtype=np.float64)
    ok = np.isfinite(hist)
    x = np.broadcast_to(np.arange(hist.shape[1], dtype=np.float64), hist.shape)
    y = np.where(ok, hist, 0.0)
    n = ok.sum(1).astype(np.float64)
    sx, sy = np.where(ok, x, 0.0).sum(1), y.sum(1)
    sxx, sxy = np.where(ok, x * x, 0.0).sum(1), (np.where(ok, x, 0.0) * y).sum(1)
    den = n * sxx - sx * sx
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= 2, (n * sxy - sx * sy) / np.where(den > 0, den, 1.0), np.nan)


def classify_trend(trend: np.ndarray, threshold: float) -> np.ndarray:
    """Each trend as ``learning`` (below -threshold: the loss falls), ``stuck`` (within
    +-threshold), ``rising`` (above threshold) or ``unknown`` (NaN: fewer than two visits)."""
    trend = np.asarray(trend, dtype=np.float64)
    out = np.full(trend.shape, "unknown", dtype=object)
    out[trend < -threshold] = "learning"
    out[np.abs(trend) <= threshold] = "stuck"
    out[trend > threshold] = "rising"
    return out


def document_signals(arrays: dict[str, np.ndarray], domain: str) -> dict[str, np.ndarray]:
    """A domain's per-document signals from a controller's arrays (:meth:`DocumentState.arrays`
    or :func:`load_document_state`): ``loss`` (latest), ``loss_ema``, ``trend`` (per visit,
    over the last K), ``margin``, ``confidence``, ``accuracy``, ``calibration`` (smoothed), ``served``
    (visits) and ``last_step`` (step last seen). Unseen documents have NaN signals."""
    def get(key: str, dtype=np.float64) -> np.ndarray:
        name = f"{key}/{domain}"
        if name not in arrays:
            raise CurricleError(f"no document state '{name}' (domains here: "
                                f"{', '.join(sorted(k.split('/', 1)[1] for k in arrays if k.startswith('last/')))})")
        return np.asarray(arrays[name], dtype=dtype)

    last = get("last")
    nan = np.full(len(last), np.nan)

    def opt(key: str) -> np.ndarray:  # arrays a checkpoint from before the signals lacks
        return get(key) if f"{key}/{domain}" in arrays else nan.copy()

    return {"loss": last, "loss_ema": opt("ema"),
            "trend": loss_trend(get("hist")) if f"hist/{domain}" in arrays else nan.copy(),
            "margin": opt("margin"), "confidence": opt("conf"), "accuracy": opt("acc"),
            "calibration": opt("calib"), "served": get("served", np.int64), "last_step": get("seen", np.int64)}


def load_document_state(run_dir: Path | str) -> tuple[int, dict[str, np.ndarray]]:
    """The step and the document-prioritizer arrays (keys ``<array>/<domain>``, see
    :class:`DocumentState`) of ``run_dir``'s newest complete checkpoint."""
    run_dir = Path(run_dir)
    found = checkpoint.latest_complete(run_dir / "checkpoints")
    if found is None:
        raise CurricleError(f"{run_dir}: no complete checkpoint under {run_dir / 'checkpoints'}")
    step, path = found
    name = json.loads((path / checkpoint.STATE_FILE).read_text()).get("controller", {}).get("name")
    if name not in DOCUMENT_CONTROLLERS:
        raise CurricleError(f"{run_dir}: its controller is {name or 'none'}, not one that keeps document state "
                            f"({' or '.join(DOCUMENT_CONTROLLERS)})")
    prefix = "controller/"
    saved = load_file(str(path / checkpoint.ARRAYS_FILE))
    arrays = {k[len(prefix):]: v for k, v in saved.items() if k.startswith(prefix)}
    return step, arrays


def floor_groups(p: np.ndarray, groups: np.ndarray, lengths: np.ndarray, floors: np.ndarray) -> np.ndarray:
    """Draw probabilities ``p`` (per document) with each group's expected share of the drawn
    tokens (``p * lengths``, per group ``groups``: indices into ``floors``) raised to at least
    its floor, the other groups scaled down; within a group the relative probabilities stay.
    A group with no probability that needs some is drawn uniformly within itself."""
    p = np.asarray(p, dtype=np.float64)
    lengths = np.asarray(lengths, dtype=np.float64)
    t = p * lengths
    k = len(floors)
    mass = np.bincount(groups, t, minlength=k)
    mass = mass / mass.sum()
    present = np.bincount(groups, minlength=k) > 0
    floors = np.where(present, floors, 0.0)
    if np.all(mass >= floors):
        return p / p.sum()
    target = apply_floors(mass, floors)
    empty = mass <= 0
    # Each group's tokens scaled to its target; an empty group: uniform draws within it.
    scale = np.where(empty, 0.0, target / np.where(empty, 1.0, mass))
    t = t / t.sum() * scale[groups]
    if empty.any():
        spread = target / np.maximum(np.bincount(groups, lengths, minlength=k), 1e-300)
        t = np.where(empty[groups], lengths * spread[groups], t)
    q = t / lengths
    return q / q.sum()


class DocumentState:
    """What a document prioritizer keeps per document of its domains (see the module doc),
    and the groups' trained tokens (the store's documents', and augmented documents' by their
    group). ``context.doc_column`` gives the groups' column."""

    def __init__(self, config: DocumentStateConfig, context, targets: list[str]):
        self.config = config
        self.targets = targets
        counts = context.doc_counts
        k = config.history
        self.last = {d: np.full(counts[d], np.nan, dtype=np.float64) for d in targets}
        self.seen = {d: np.zeros(counts[d], dtype=np.int64) for d in targets}
        self.served = {d: np.zeros(counts[d], dtype=np.int32) for d in targets}
        self.ema = {d: np.full(counts[d], np.nan, dtype=np.float64) for d in targets}
        self.hist = {d: np.full((counts[d], k), np.nan, dtype=np.float64) for d in targets}
        self.margin = {d: np.full(counts[d], np.nan, dtype=np.float64) for d in targets}
        self.conf = {d: np.full(counts[d], np.nan, dtype=np.float64) for d in targets}
        self.acc = {d: np.full(counts[d], np.nan, dtype=np.float64) for d in targets}
        self.calib = {d: np.full(counts[d], np.nan, dtype=np.float64) for d in targets}
        self.groups: GroupsConfig | None = config.groups
        self.group_names: dict[str, list[str]] = {}
        self.group_ids: dict[str, np.ndarray] = {}
        self.group_tokens: dict[str, np.ndarray] = {}
        #: Per domain, augmented documents' trained tokens by group (any name: a group of the
        #: store's, or one of the augmenter's own, such as ``skill@level``).
        self.overlay_tokens: dict[str, dict[str, int]] = {}
        if self.groups is not None:
            for d in targets:
                values = doc_column(context, d, self.groups.column, "groups.column")
                names, ids = np.unique(np.asarray([str(v) for v in values], dtype=object), return_inverse=True)
                self.group_names[d] = [str(n) for n in names]
                self.group_ids[d] = ids.astype(np.int64)
                self.group_tokens[d] = np.zeros(len(names), dtype=np.int64)

    #: The per-document arrays, by their key prefix (``<key>/<domain>``).
    KEYS = ("last", "seen", "served", "ema", "hist", "margin", "conf", "acc", "calib")

    def observe(self, step: int, visits) -> None:
        a = self.config.smoothing
        for v in visits:
            v = Visit(*v)
            if v.domain not in self.last:
                continue
            d, doc = v.domain, v.doc
            if self.groups is not None:
                self.group_tokens[d][self.group_ids[d][doc]] += v.tokens
            if not np.isfinite(v.loss):
                continue
            self.last[d][doc] = v.loss
            self.seen[d][doc] = step
            self.served[d][doc] += 1
            hist = self.hist[d][doc]
            hist[:-1] = hist[1:].copy()
            hist[-1] = v.loss
            pairs = ((self.ema, v.loss), (self.margin, v.margin), (self.conf, v.confidence),
                     (self.acc, v.accuracy), (self.calib, v.confidence - v.accuracy))
            for arrays, x in pairs:
                if np.isfinite(x):
                    old = arrays[d][doc]
                    arrays[d][doc] = x if np.isnan(old) else a * old + (1 - a) * x

    def observe_overlay(self, tokens: list[tuple[str, str, int]]) -> None:
        """Count augmented documents' trained tokens, ``(domain, group, tokens)``, in their group."""
        for d, g, n in tokens:
            if d in self.group_tokens:
                held = self.overlay_tokens.setdefault(d, {})
                held[g] = held.get(g, 0) + int(n)

    def group_shares(self) -> dict[str, float]:
        """``group/share/<domain>/<group>``: each group's share of its domain's trained tokens,
        augmented documents' in their group (groups only they have come after the store's)."""
        out = {}
        for d, tokens in self.group_tokens.items():
            counts = dict(zip(self.group_names[d], tokens.tolist()))
            for g, n in self.overlay_tokens.get(d, {}).items():
                counts[g] = counts.get(g, 0) + n
            total = sum(counts.values())
            if total > 0:
                out.update({f"group/share/{d}/{g}": float(n / total) for g, n in counts.items()})
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"{key}/{d}": getattr(self, key)[d] for d in self.targets for key in self.KEYS}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        for d in self.targets:
            for key in self.KEYS:
                if f"{key}/{d}" in arrays:  # a checkpoint from before the signals has only the first three
                    held = getattr(self, key)
                    held[d] = np.asarray(arrays[f"{key}/{d}"], dtype=held[d].dtype).copy()

    def state(self) -> dict[str, Any]:
        if not self.groups:
            return {}
        return {"group_tokens": {d: t.tolist() for d, t in self.group_tokens.items()},
                **({"overlay_tokens": {d: dict(t) for d, t in self.overlay_tokens.items()}}
                   if self.overlay_tokens else {})}

    def load_state(self, state: dict[str, Any]) -> None:
        for d, t in state.get("group_tokens", {}).items():
            if d in self.group_tokens:
                self.group_tokens[d] = np.asarray(t, dtype=np.int64)
        self.overlay_tokens = {d: {g: int(n) for g, n in t.items()}
                               for d, t in state.get("overlay_tokens", {}).items() if d in self.group_tokens}


def doc_column(context, domain: str, name: str, field: str) -> np.ndarray:
    """Domain ``domain``'s per-document metadata column ``name`` from the run's context, or a
    one-line error naming the config ``field``."""
    if context.doc_column is None:
        raise CurricleError(f"controller.{field}: this trainer gives no document metadata; use `curricle train`")
    try:
        return np.asarray(context.doc_column(domain, name))
    except CurricleError as err:
        raise CurricleError(f"controller.{field}: {err}") from None


class DocumentPrioritizer(Controller):
    """What every document prioritizer shares: the domains it ranks (``targets``), their
    :class:`DocumentState` (``docs``: observed, checkpointed, reported by group), and no say in
    the mixture across domains (left to the schedule). Subclasses set ``targets`` and ``docs``
    and give :meth:`doc_priorities`."""

    role = DOCUMENTS
    needs = frozenset({"doc_counts"})
    in_hf_trainer = False
    targets: list[str]
    docs: "DocumentState"

    @property
    def doc_domains(self) -> list[str]:
        return list(self.targets)

    @property
    def needs_signals(self) -> bool:
        """Whether the loss should compute the per-token difficulty signals for it."""
        return self.config.signals

    def observe_docs(self, step: int, doc_losses) -> None:
        """Record this step's visits: :class:`Visit` s, or (domain, document, mean loss)."""
        self.docs.observe(step, doc_losses)

    def group_metrics(self) -> dict[str, float]:
        return self.docs.group_shares()

    def observe_group_tokens(self, step: int, tokens: list[tuple[str, str, int]]) -> None:
        """Augmented rows' tokens, counted in their groups' shares."""
        self.docs.observe_overlay(tokens)

    def propose(self, step, signal, current):
        return None  # the mixture across domains stays with the schedule

    def extra_state(self) -> dict[str, Any]:
        return self.docs.state()

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.docs.load_state(state)

    def array_state(self) -> dict[str, np.ndarray]:
        return self.docs.arrays()

    def load_array_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.docs.load_arrays(arrays)


class HardExamples(DocumentPrioritizer):
    name = "hard-examples"
    hf_refusal = ("hard-examples ranks documents, which needs curricle's own sampler state per document; "
                  "use `curricle train`")

    def __init__(self, config: HardExamplesConfig, context):
        super().__init__(config, context)
        self.targets = list(config.domains or self.domains)
        self.docs = DocumentState(config, context, self.targets)
        score = getattr(config, "score", "loss")
        self.column: dict[str, np.ndarray] = {}
        if score.startswith("column:"):
            name = score[len("column:"):]
            for d in self.targets:
                values = doc_column(context, d, name, "score")
                if not np.issubdtype(values.dtype, np.number):
                    raise CurricleError(f"controller.score: column '{name}' of domain '{d}' is not numeric")
                self.column[d] = values.astype(np.float64)
        self.floors: dict[str, np.ndarray] = {}
        self.lengths: dict[str, np.ndarray] = {}
        groups = config.groups
        if groups is not None and groups.floored:
            if context.doc_lengths is None:
                raise CurricleError("controller.groups: this trainer gives no document lengths; use `curricle train`")
            named = set(groups.min_share or ())
            for d in self.targets:
                names, ids = self.docs.group_names[d], self.docs.group_ids[d]
                self.lengths[d] = np.asarray(context.doc_lengths(d), dtype=np.float64)
                if groups.gamma is not None:
                    natural = np.bincount(ids, self.lengths[d], minlength=len(names))
                    self.floors[d] = groups.gamma * natural / natural.sum()
                else:
                    self.floors[d] = np.array([groups.min_share.get(g, 0.0) for g in names])
                named -= set(names)
            if named:
                raise CurricleError(f"controller.groups.min_share: no document of {', '.join(self.targets)} has "
                                    f"{groups.column} '{sorted(named)[0]}'")

    # The arrays by their names elsewhere in curricle (and its tests).
    @property
    def last(self) -> dict[str, np.ndarray]:
        return self.docs.last

    @property
    def seen(self) -> dict[str, np.ndarray]:
        return self.docs.seen

    @property
    def served(self) -> dict[str, np.ndarray]:
        return self.docs.served

    @property
    def priority_reason(self) -> str:
        """The audit log's reason for a change of priorities."""
        score = self.config.score
        return "document priorities from their most recent losses" if score == "loss" else \
            f"document priorities by {score}"

    def estimate(self, d: str) -> tuple[np.ndarray, bool]:
        """Domain ``d``'s per-document score, larger harder (NaN: unknown), and whether it is
        an estimate from visits (which fades toward the mean as it ages)."""
        score, docs = self.config.score, self.docs
        if score == "loss":
            return docs.last[d], True
        if score == "ema":
            return docs.ema[d], True
        if score == "margin":
            return -docs.margin[d], True
        if score == "confidence":
            return 1.0 - docs.conf[d], True
        if score == "calibration":
            return docs.calib[d], True
        if score == "learning":
            return -loss_trend(docs.hist[d]), True
        return self.column[d], False

    def doc_priorities(self, step: int) -> dict[str, np.ndarray] | None:
        if step < self.config.warmup_steps or step % self.config.update_every:
            return None
        out = {}
        for d in self.targets:
            last, fades = self.estimate(d)
            seen, served = self.docs.seen[d], self.docs.served[d]
            known = np.isfinite(last)
            if not known.any():
                continue
            if fades:
                mean = float(last[known].mean())
                stale = np.where(known, mean + (last - mean) * self.config.staleness ** (step - seen), np.nan)
            else:
                stale = np.where(known, last, np.nan)
            stale = np.where(known, stale, np.nanmax(stale))  # unseen: as hard as the hardest
            if self.config.priority == "rank":
                p = np.exp(-np.log(self.config.selection_pressure) * mean_ranks(-stale) / len(stale))
            else:
                p = np.clip(stale, 1e-6, None) ** (1.0 / self.config.temperature)
            capped = served >= self.config.max_serves
            if not capped.all():
                p = np.where(capped, 0.0, p)
            out[d] = p / p.sum()
            if d in self.floors:
                out[d] = floor_groups(out[d], self.docs.group_ids[d], self.lengths[d], self.floors[d])
        return out or None

    def group_floors(self) -> dict[str, GroupFloors]:
        return {d: GroupFloors(list(self.docs.group_names[d]), self.docs.group_ids[d], f)
                for d, f in self.floors.items()}

    def signal_means(self, d: str) -> dict[str, float]:
        """Domain ``d``'s difficulty over the documents seen so far, for the audit log (and the
        report's signals over training): mean latest loss, margin, confidence and calibration
        contribution, and the shares of documents whose loss is falling (``learning``) or flat
        (``stuck``) over their last visits, by :data:`TREND_THRESHOLD`."""
        docs = self.docs
        seen = np.isfinite(docs.last[d])
        if not seen.any():
            return {}
        out = {"seen_docs": int(seen.sum()), "mean_loss": docs.last[d][seen].mean()}
        for key, name in (("margin", "mean_margin"), ("conf", "mean_confidence"), ("calib", "mean_calibration")):
            v = getattr(docs, key)[d][seen]
            if np.isfinite(v).any():
                out[name] = np.nanmean(v)
        trend = loss_trend(docs.hist[d][seen])
        if np.isfinite(trend).any():
            kind = classify_trend(trend, TREND_THRESHOLD)
            out["learning_share"] = float(np.mean(kind == "learning"))
            out["stuck_share"] = float(np.mean(kind == "stuck"))
        return {k: round(float(v), 6) for k, v in out.items()}

    def summary(self, priorities: dict[str, np.ndarray]) -> dict[str, Any]:
        """What changed, for the audit log: per domain the most favoured documents and how
        concentrated the distribution is (effective number of documents); with floored
        groups, each group's share of the expected drawn tokens."""
        out = {}
        for d, p in priorities.items():
            top = np.argsort(-p, kind="stable")[:5]
            out[d] = {"top_docs": top.tolist(), "top_probs": [round(float(x), 6) for x in p[top]],
                      "effective_docs": float(1.0 / np.sum(p * p)),
                      "capped": int((self.docs.served[d] >= self.config.max_serves).sum()),
                      **self.signal_means(d)}
            if d in self.floors:
                t = np.bincount(self.docs.group_ids[d], p * self.lengths[d], minlength=len(self.floors[d]))
                out[d]["group_shares"] = {g: round(float(x), 6)
                                          for g, x in zip(self.docs.group_names[d], t / t.sum())}
        return out



def doc_visits(batch, token_loss, domains: list[str], signals=None) -> list[Visit]:
    """A :class:`Visit` per document piece in ``batch.segments``: its mean loss (NaN for a
    piece with no label), tokens, and with ``signals`` ((b, L, 3), see
    :func:`curricle.train.loss.token_signals`) its mean margin, confidence and accuracy. A
    label at column ``c`` of a row (token ``c``, predicted from ``c - 1``) belongs to the
    document owning token ``c``."""
    out = []
    tl = token_loss.detach().float().cpu()  # (b, L): loss of predicting token c + 1
    sg = signals.detach().float().cpu() if signals is not None else None  # (b, L, 3)
    for row, a, b, d, doc in batch.segments or []:
        lo, hi = max(a, 1) - 1, b - 1
        if hi <= lo:
            out.append(Visit(domains[d], doc, float("nan"), b - a))
            continue
        loss = float(tl[row, lo:hi].mean())
        if sg is None:
            out.append(Visit(domains[d], doc, loss, b - a))
        else:
            margin, confidence, accuracy = sg[row, lo:hi].mean(0).tolist()
            out.append(Visit(domains[d], doc, loss, b - a, margin, confidence, accuracy))
    return out


def doc_losses(batch, token_loss, domains: list[str]) -> list[tuple[str, int, float]]:
    """Mean loss of each document piece in ``batch.segments`` that has a label (see
    :func:`doc_visits`): (domain, document, loss)."""
    return [(v.domain, v.doc, v.loss) for v in doc_visits(batch, token_loss, domains) if np.isfinite(v.loss)]
