"""What ``curricle train`` imports before any work: nothing a run may not use."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import curricle.train.command
from curricle.controllers.base import ControllerContext
from curricle.controllers.config import CONTROLLERS, ADOConfig
# ADO's filter; scipy.optimize comes in anyway (transformers' modeling_utils imports it).
ado = ("scipy.signal", "scipy.stats")
before = [m for m in ado if m in sys.modules]
CONTROLLERS.build(ADOConfig(), ControllerContext(["a", "b"], {"a": 10, "b": 10}))
print(json.dumps({"before": before, "after": [m for m in ado if m in sys.modules]}))
"""


def test_scipy_loads_only_when_ado_is_built():
    """scipy.signal (and scipy.stats under it: ~0.45 s of the command's start-up here) is
    ADO's alone: the training command does not import it, building ADO does."""
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == {"before": [], "after": ["scipy.signal", "scipy.stats"]}
