"""What the board shows of a run while it trains: progress and curves, read from its ``trainer_log.jsonl``.

The log is the one the run writes for every stage (`train.callbacks.LogCallback`), so a job started before a
page refresh or a server restart is followed the same way. A line cut off mid-write is skipped until it is whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.stages import get_stage

TRAINER_LOG = "trainer_log.jsonl"
# trainer_log.jsonl key -> the curve's name (LLaMA-Factory's keys first, then the stages' own metrics).
BASE_CURVES = {"loss": "loss", "eval_loss": "eval loss", "lr": "learning rate"}
STAGE_CURVES = {"accuracy": "reward accuracy", "reward": "reward", "kl": "KL", "reward_std": "reward std",
                "completions/mean_length": "completion length", "rewards/margins": "reward margin"}


def read_log(output_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(output_dir) / TRAINER_LOG
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # the line being written right now
        if isinstance(record, dict) and "current_steps" in record:
            records.append(record)
    return records


@dataclass
class Progress:
    step: int
    total: int
    percentage: float
    elapsed: str
    remaining: str

    def label(self) -> str:
        return (f"step {self.step}/{self.total} ({self.percentage:g}%) · elapsed {self.elapsed} · "
                f"remaining {self.remaining}")


def progress(records: list[dict[str, Any]]) -> Progress | None:
    if not records:
        return None
    last = records[-1]
    return Progress(last["current_steps"], last.get("total_steps", 0), last.get("percentage", 0.0),
                    last.get("elapsed_time", ""), last.get("remaining_time", ""))


def curve_names(stage: str) -> dict[str, str]:
    """The curves worth drawing for a stage: loss, eval loss and learning rate, and the stage's own metrics."""
    names = dict(BASE_CURVES)
    stage_keys = (*get_stage(stage).plot_keys, *get_stage(stage).log_keys)
    names.update({key: name for key, name in STAGE_CURVES.items() if key in stage_keys or key == "accuracy"})
    return names


def smooth(values: list[float], weight: float) -> list[float]:
    """Exponential moving average, TensorBoard's smoothing, debiased so the first points are not pulled to 0."""
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {weight}")
    smoothed, average = [], 0.0
    for count, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        smoothed.append(average / (1 - weight ** count))
    return smoothed


def curve_rows(records: list[dict[str, Any]], key: str, name: str, smoothing: float = 0.0) -> list[dict[str, Any]]:
    """Rows (step, value, series) of one metric: the raw points, and a smoothed series when smoothing > 0."""
    points = [(r["current_steps"], float(r[key])) for r in records if isinstance(r.get(key), (int, float))]
    rows = [{"step": step, "value": value, "series": name} for step, value in points]
    if smoothing > 0 and len(points) > 1:
        values = smooth([value for _, value in points], smoothing)
        rows += [{"step": step, "value": value, "series": f"{name} (smoothed)"}
                 for (step, _), value in zip(points, values, strict=True)]
    return rows


def curves(records: list[dict[str, Any]], stage: str, smoothing: float = 0.0) -> dict[str, list[dict[str, Any]]]:
    """Each curve with at least one point: loss and eval loss share one chart, every other metric has its own."""
    names = curve_names(stage)
    charts: dict[str, list[dict[str, Any]]] = {}
    for key, name in names.items():
        rows = curve_rows(records, key, name, smoothing if key == "loss" else 0.0)
        if rows:
            charts.setdefault("loss" if key in ("loss", "eval_loss") else key, []).extend(rows)
    return charts


# --- drawing -------------------------------------------------------------------------------------------------------

COLOURS = ("#f97316", "#2563eb", "#16a34a", "#9333ea", "#dc2626", "#0891b2")
WIDTH, HEIGHT, MARGIN = 420, 240, 44


def svg_chart(rows: list[dict[str, Any]], title: str) -> str:
    """A line chart as inline SVG, one polyline per series (drawn here: no plotting library or network)."""
    if not rows:
        return f"<div class='tf-chart' data-points='0'><b>{_escape(title)}</b><p>no points yet</p></div>"
    series: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        series.setdefault(row["series"], []).append((float(row["step"]), float(row["value"])))
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    x_low, x_high = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y_low, y_high = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

    def place(x: float, y: float) -> str:
        px = MARGIN + (x - x_low) / (x_high - x_low) * (WIDTH - 2 * MARGIN)
        py = HEIGHT - MARGIN - (y - y_low) / (y_high - y_low) * (HEIGHT - 2 * MARGIN)
        return f"{px:.1f},{py:.1f}"

    lines, legend = [], []
    for index, (name, points) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        lines.append(f"<polyline data-series='{_escape(name)}' data-points='{len(points)}' fill='none' "
                     f"stroke='{colour}' stroke-width='2' points='{' '.join(place(x, y) for x, y in points)}'/>")
        legend.append(f"<text x='{MARGIN + 150 * index}' y='14' fill='{colour}' font-size='11'>{_escape(name)}</text>")
    axes = (f"<line x1='{MARGIN}' y1='{HEIGHT - MARGIN}' x2='{WIDTH - MARGIN}' y2='{HEIGHT - MARGIN}' stroke='#999'/>"
            f"<line x1='{MARGIN}' y1='{MARGIN}' x2='{MARGIN}' y2='{HEIGHT - MARGIN}' stroke='#999'/>"
            f"<text x='2' y='{MARGIN + 4}' font-size='10'>{y_high:.4g}</text>"
            f"<text x='2' y='{HEIGHT - MARGIN}' font-size='10'>{y_low:.4g}</text>"
            f"<text x='{MARGIN}' y='{HEIGHT - MARGIN + 14}' font-size='10'>{x_low:g}</text>"
            f"<text x='{WIDTH - MARGIN - 10}' y='{HEIGHT - MARGIN + 14}' font-size='10'>{x_high:g}</text>"
            f"<text x='{WIDTH / 2 - 10}' y='{HEIGHT - 8}' font-size='10'>step</text>")
    return (f"<div class='tf-chart' data-points='{len(rows)}'><b>{_escape(title)}</b>"
            f"<svg viewBox='0 0 {WIDTH} {HEIGHT}' width='100%' role='img' aria-label='{_escape(title)}'>"
            f"{axes}{''.join(lines)}{''.join(legend)}</svg></div>")


def _escape(text: str) -> str:
    import html

    return html.escape(str(text), quote=True)
