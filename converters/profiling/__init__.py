"""Where time, energy and memory go in a .tflite: measured on this CPU, imported from a phone, simulated on
a spatial accelerator. ``layers`` is the shared layer table; each target's module fills a report."""
