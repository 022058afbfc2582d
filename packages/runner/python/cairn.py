"""cairn's checkpoint helper for Python training scripts.

Inside ``cairn exp run`` this module is on PYTHONPATH, so a script needs no
install::

    from cairn import make_checkpoint, is_resume

    for epoch in range(epochs):
        train_one_epoch()
        save_model("model.pt")
        make_checkpoint(metrics={"acc": acc}, step=epoch)

Outside a run every function here is a no-op, so the same script runs
anywhere. Standard library only; Python 3.8+.
"""

import json
import numbers
import os
import tempfile
import time

__all__ = ["make_checkpoint", "is_resume", "signal_path"]

_SIGNAL_ENV = "CAIRN_CHECKPOINT_SIGNAL"
# How often the cairn process is checked for being alive while waiting.
_LIVENESS_EVERY = 1.0


def signal_path(environ=None):
    """The signal file of the current run, or None outside a run.

    CAIRN_CHECKPOINT_SIGNAL wins; otherwise DVC 2.x's variables are honoured
    so the helper also works under DVC itself.
    """
    env = os.environ if environ is None else environ
    path = env.get(_SIGNAL_ENV)
    if path:
        return path
    dvc = env.get("DVC_CHECKPOINT")
    root = env.get("DVC_ROOT")
    if dvc and dvc != "0" and root:
        return os.path.join(root, ".dvc", "tmp", "DVC_CHECKPOINT")
    return None


def is_resume(environ=None):
    """True when this run continues an experiment from its last checkpoint."""
    env = os.environ if environ is None else environ
    return env.get("CAIRN_RESUME", "").strip().lower() in ("1", "true", "yes")


def _plain(value, where):
    # numpy and torch scalars expose .item(); turning them into Python
    # numbers here gives the user an error at the call, not a hang later.
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return _plain(item(), where)
        except (TypeError, ValueError):
            pass
    if isinstance(value, dict):
        return {str(k): _plain(v, "%s.%s" % (where, k)) for k, v in value.items()}
    raise TypeError(
        "cairn: metric %r is a %s; use a number, string or bool" % (where, type(value).__name__)
    )


def _alive(pid):
    if os.name != "posix":
        return True  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    return True


def _read_error(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read().strip() or "checkpoint failed"
    except FileNotFoundError:
        return None


def make_checkpoint(metrics=None, step=None):
    """Record a checkpoint of the running experiment; returns when recorded.

    ``metrics`` is an optional dict of name to number/string/bool (nested
    dicts allowed); ``step`` an optional step number. Raises RuntimeError
    when cairn could not record the checkpoint. A no-op outside a run.
    """
    path = signal_path()
    if path is None:
        return
    payload = {}
    if metrics is not None:
        if not isinstance(metrics, dict):
            raise TypeError("cairn: metrics must be a dict of name: value")
        payload["metrics"] = _plain(metrics, "metrics")
    if step is not None:
        payload["step"] = int(step)
    # Never an empty file: the runner gives an empty file a few ms to get
    # content, and "{}" skips that wait.
    data = json.dumps(payload, allow_nan=True)

    folder = os.path.dirname(path) or "."
    error_path = path + ".error"
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    except OSError as e:
        raise RuntimeError("cairn: cannot write the checkpoint signal in %s: %s" % (folder, e))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        # The rename makes the complete file appear at once, so the runner
        # never reads half a payload.
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise

    try:
        cairn_pid = int(os.environ.get("CAIRN_PID", "0"))
    except ValueError:
        cairn_pid = 0
    # DVC polls every 100 ms. Starting at 0.5 ms and backing off gently to
    # 5 ms adds at most a few ms to each checkpoint (a stat every 5 ms costs
    # nothing) without spinning while a large model is recorded.
    delay = 0.0005
    next_liveness = time.monotonic() + _LIVENESS_EVERY
    while True:
        if not os.path.exists(path):
            # cairn writes the error file before deleting the signal, so
            # this check after the signal is gone cannot miss it.
            err = _read_error(error_path)
            if err is not None:
                raise RuntimeError("cairn: checkpoint failed: " + err)
            return
        err = _read_error(error_path)
        if err is not None:
            raise RuntimeError("cairn: checkpoint failed: " + err)
        time.sleep(delay)
        delay = min(delay * 1.5, 0.005)
        if cairn_pid > 0 and time.monotonic() >= next_liveness:
            next_liveness = time.monotonic() + _LIVENESS_EVERY
            if not _alive(cairn_pid):
                raise RuntimeError("cairn: the cairn process (pid %d) is gone; checkpoint not recorded" % cairn_pid)


if __name__ == "__main__":  # pragma: no cover - manual use: python -m cairn
    import sys

    make_checkpoint()
    sys.exit(0)
