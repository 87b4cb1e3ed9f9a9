"""Hardware-aware search over SqueezeNext configurations (``python -m squeezekit.search``).

``space`` is the design space and each candidate's op rows, ``cost`` the per-op cost table measured on this
CPU and the accelerator model, ``engine`` the aging-evolution search, ``report`` the front, the finalists'
measurements and training, and the JSON / Markdown / PNG outputs.
"""
