"""The `choujian` command: the composition root, the one place that wires training and serving together."""
