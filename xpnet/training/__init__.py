"""Training. Reading order: the epoch loop (``loop``), the same step compiled by JAX or
PyTorch (``compiled``), a whole run with checkpoints, resume, Ctrl-C and divergence handling
(``run``), every setting and the presets (``config``), how a run starts: afresh, resumed or
continued (``starting``), the checkpoint format (``checkpoint``), the folder of a run's
checkpoints and its lock (``checkpoint_folder``), the best epoch and early stopping
(``early_stopping``), whether a run fits on its device (``memory``), what a run prints
(``report``), the metrics file (``metrics_log``) and Ctrl-C, SIGTERM and SIGHUP as requests
(``interrupt``)."""
