"""Training: stage recipes, trainers, callbacks and metrics."""
