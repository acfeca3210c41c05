"""Running without anyone at the keyboard: the drop-folder sensor, the nightly
schedule, recovery of killed runs, and the Dagster instance's event storage."""
