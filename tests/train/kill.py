"""A hook that kills a training run at a step, for the tests of resuming."""

from curricle.train.hooks import Hook


class Killed(Exception):
    pass


class KillAt(Hook):
    """Ends the run with :class:`Killed` at ``step``, before the step is logged (telemetry is the
    last hook): what a kill leaves."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, state, batch, metrics):
        if state.step == self.step:
            raise Killed
