"""The deterministic synthetic sample (data/raw/ and the truth a correct pipeline
must reproduce). An independent oracle: it imports nothing from the pipeline."""
