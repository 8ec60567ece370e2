"""User augmenters for the tests (``tests.augment.fns:<name>``)."""

from curricle.synthetic import make_generator


def shout(target, n, seed, suffix="!"):
    """Up to ``n`` upper-cased copies of the target, each with its own mark."""
    return [(target.text.upper() + suffix * (i + 1), {"copy": i}) for i in range(n)]


def leak(target, n, seed):
    """A document holding a held-out arithmetic probe item, and a clean one."""
    item = make_generator("arithmetic", 0).items("heldout", 1)[0]
    return [f"note: {item.text}\n", "1+1=2\n"]
