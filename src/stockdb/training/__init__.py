"""Training: multi-ticker datasets, labels, time splits, pipelines and the model registry."""
