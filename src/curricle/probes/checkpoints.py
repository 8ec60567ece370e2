"""Finding checkpoints, their token positions, and fingerprints of their weights.

A path given to ``probe`` may be:

- a curricle run directory (``RUN/checkpoints/step_N/``): every complete checkpoint;
- a directory of HF checkpoints (``series/step1000/``, ``series/step2000-tokens4B/``, a local
  copy of a Pythia or OLMo series): every subdirectory with a ``config.json``;
- one HF checkpoint directory.

A checkpoint's position is read from curricle's ``trainer_state.json`` (``step``, ``tokens``)
or else from its directory name: ``step1000``, ``step_1000``, ``global_step1000``, with an
optional token count such as ``-tokens4B`` (K, M, B/G, T suffixes). Without one the
position is unknown (None) and the map cannot place the checkpoint.

The run a checkpoint belongs to is the curricle run directory, or the series directory.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path


from curricle import atomic
from curricle.errors import CurricleError
from curricle.runinfo import read_run_config
from curricle.train.checkpoint import check_complete, step_dirs

STATE_FILE = "trainer_state.json"
#: Files whose bytes are the weights (the first pattern that matches wins).
WEIGHT_PATTERNS = ("model*.safetensors", "pytorch_model*.bin", "model*.bin", "*.safetensors")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "tokenizer.model",
                   "special_tokens_map.json")

_STEP = re.compile(r"(?:^|[^a-z])step[_-]?(\d+)", re.IGNORECASE)
_TOKENS = re.compile(r"tokens[_-]?(\d+(?:\.\d+)?)([kmbgt]?)", re.IGNORECASE)
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}


@dataclass(frozen=True)
class CheckpointRef:
    """A checkpoint to probe: where it is, which run it belongs to, and its position."""

    path: Path
    run: Path
    step: int | None
    tokens: int | None

    @property
    def name(self) -> str:
        return self.path.name


def position_from_name(name: str) -> tuple[int | None, int | None]:
    """``(step, tokens)`` parsed from a directory name such as ``step1000-tokens4B``."""
    m = _STEP.search(name)
    step = int(m.group(1)) if m else None
    t = _TOKENS.search(name)
    tokens = round(float(t.group(1)) * _SCALE[t.group(2).lower()]) if t else None
    return step, tokens


def read_position(path: Path) -> tuple[int | None, int | None]:
    """Position from ``trainer_state.json`` if present, else from the directory name."""
    state = path / STATE_FILE
    if state.is_file():
        try:
            data = json.loads(state.read_text())
            step, tokens = data.get("step"), data.get("tokens")
            if isinstance(step, int):
                return step, tokens if isinstance(tokens, int) else position_from_name(path.name)[1]
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
    return position_from_name(path.name)


def is_checkpoint(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file() and bool(weight_files(path))


def weight_files(path: Path) -> list[Path]:
    for pattern in WEIGHT_PATTERNS:
        files = sorted(p for p in path.glob(pattern) if p.is_file())
        if files:
            return files
    return []


def _sort_key(ref: CheckpointRef):
    return (str(ref.run), ref.step if ref.step is not None else -1, ref.tokens or -1, ref.path.name)


def find_checkpoints(paths: list[Path | str]) -> list[CheckpointRef]:
    """Every checkpoint under ``paths`` (see the module doc), ordered by run then position."""
    found: dict[Path, CheckpointRef] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise CurricleError(f"{path}: no such checkpoint or run directory")
        if (path / "checkpoints").is_dir():  # a curricle run
            for _, ck in sorted(step_dirs(path / "checkpoints")):
                if check_complete(ck) is None and is_checkpoint(ck):
                    found[ck.resolve()] = CheckpointRef(ck, path, *read_position(ck))
        elif is_checkpoint(path):
            run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
            found[path.resolve()] = CheckpointRef(path, run, *read_position(path))
        elif path.is_dir():
            subs = [p for p in sorted(path.iterdir()) if is_checkpoint(p)]
            for ck in subs:
                found[ck.resolve()] = CheckpointRef(ck, path, *read_position(ck))
            if not subs:
                raise CurricleError(f"{path}: not a run (no checkpoints/), a checkpoint (no config.json with "
                                    f"weights), or a directory of checkpoints")
        else:
            raise CurricleError(f"{path}: not a directory")
    return sorted(found.values(), key=_sort_key)


def _file_digest(path: Path, memo: dict[str, str] | None) -> str:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if memo is not None and key in memo:
        return memo[key]
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    digest = h.hexdigest()
    if memo is not None:
        memo[key] = digest
    return digest


def weights_hash(path: Path, memo: dict[str, str] | None = None) -> str:
    """A digest of the checkpoint's weight files' bytes (names and contents).

    ``memo`` maps ``path|size|mtime`` to file digests, so a rerun does not reread large
    unchanged files.
    """
    files = weight_files(path)
    if not files:
        raise CurricleError(f"{path}: no weight files ({', '.join(WEIGHT_PATTERNS)})")
    h = hashlib.blake2b(digest_size=16)
    for f in files:
        h.update(f.name.encode() + b"\0" + _file_digest(f, memo).encode())
    return h.hexdigest()


def tokenizer_hash(path: Path, memo: dict[str, str] | None = None) -> str:
    """A digest of the checkpoint's tokenizer files (scores depend on the tokenizer too)."""
    h = hashlib.blake2b(digest_size=16)
    for name in TOKENIZER_FILES:
        f = path / name
        if f.is_file():
            h.update(name.encode() + b"\0" + _file_digest(f, memo).encode())
    return h.hexdigest()


def read_hash_memo(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}


def write_hash_memo(path: Path, memo: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(memo))


def run_data_dir(run: Path) -> Path | None:
    """The token store a curricle run trained on (from its ``config.yaml``), if it exists."""
    cfg = read_run_config(run)
    if not cfg or not cfg.get("data_dir"):
        return None
    p = Path(cfg["data_dir"])
    return p if (p / "manifest.json").is_file() else None


__all__ = ["CheckpointRef", "find_checkpoints", "position_from_name", "read_position", "weights_hash",
           "tokenizer_hash", "run_data_dir"]
