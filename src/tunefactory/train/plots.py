"""Loss curves from a finished run: ``training_<key>.png`` in the output folder, raw and smoothed.

The file names and the smoothing are LLaMA-Factory's, so users find the pictures where they expect them.
matplotlib is optional (``pip install 'tunefactory[plot]'``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import TuneFactoryError

logger = logging.getLogger(__name__)

TRAINER_STATE = "trainer_state.json"
CURVE_COLOR = "#1f77b4"


def default_smoothing_weight(num_points: int) -> float:
    """Grows from 0 (no smoothing) towards 0.9 as the curve gets longer: a sigmoid of the point count."""
    sigmoid = 1 / (1 + math.exp(-0.05 * num_points))
    return 1.8 * (sigmoid - 0.5)


def smooth(values: Iterable[float], weight: float | None = None) -> list[float]:
    """Exponential moving average (TensorBoard's), seeded with the first value so the curve starts on the data."""
    values = list(values)
    if not values:
        return []
    if weight is None:
        weight = default_smoothing_weight(len(values))
    if not 0 <= weight <= 1:
        raise ValueError(f"smoothing weight must be in [0, 1], got {weight}")
    smoothed = [values[0]]
    for value in values[1:]:
        smoothed.append(weight * smoothed[-1] + (1 - weight) * value)
    return smoothed


def plot_loss(output_dir: str | Path, keys: Sequence[str] = ("loss", "eval_loss")) -> list[Path]:
    """Save one picture per key found in ``trainer_state.json``'s log_history; returns the paths written."""
    output_dir = Path(output_dir)
    figure_class, canvas_class = _import_matplotlib()
    log_history = read_log_history(output_dir)
    written = []
    for key in keys:
        steps, values = metric_curve(log_history, key)
        if not values:
            logger.warning("no %s in %s: its plot is skipped", key, output_dir / TRAINER_STATE)
            continue
        path = output_dir / f"training_{key.replace('/', '_')}.png"
        _save_curve(figure_class, canvas_class, steps, values, key, f"training {key} of {output_dir}", path)
        logger.info("saved the %s curve to %s", key, path)
        written.append(path)
    return written


def read_log_history(output_dir: Path) -> list[dict]:
    path = output_dir / TRAINER_STATE
    if not path.is_file():
        raise TuneFactoryError(f"no {TRAINER_STATE} in {output_dir}: the loss plots are drawn from the state the "
                               "Trainer saves at the end of training; check output_dir")
    return json.loads(path.read_text(encoding="utf-8")).get("log_history", [])


def metric_curve(log_history: list[dict], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one metric. Non-finite values are left out: a single NaN would turn the rest of the
    smoothed curve into NaN."""
    points = [(log["step"], log[key]) for log in log_history if key in log and math.isfinite(log[key])]
    return [step for step, _ in points], [value for _, value in points]


def _import_matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise TuneFactoryError("plotting the loss needs matplotlib: pip install 'tunefactory[plot]'") from e
    return Figure, FigureCanvasAgg


def _save_curve(figure_class, canvas_class, steps, values, key: str, title: str, path: Path) -> None:
    # A Figure on an Agg canvas, not pyplot: no global backend switch, no figure left open in the caller's process.
    figure = figure_class()
    canvas_class(figure)
    axes = figure.add_subplot()
    axes.plot(steps, values, color=CURVE_COLOR, alpha=0.4, label="original")
    axes.plot(steps, smooth(values), color=CURVE_COLOR, label="smoothed")
    axes.set_title(title)
    axes.set_xlabel("step")
    axes.set_ylabel(key)
    axes.legend()
    figure.savefig(path, format="png", dpi=100)
