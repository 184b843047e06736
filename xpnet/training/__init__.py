"""Training: the epoch loop (``loop``), a whole run with checkpoints, resume, Ctrl-C and
divergence handling (``run``), every setting and the presets (``config``), the checkpoint
format (``checkpoint``), the metrics file (``metrics_log``) and Ctrl-C as a request
(``interrupt``)."""
