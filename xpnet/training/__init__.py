"""Training. Reading order: the step, written once (``step``); an epoch of steps, eagerly
(``epoch``) and compiled by JAX or PyTorch (``compiled``); the loop of epochs with its hook
points (``loop``) and the extensions hung on it (``extensions``); what a run carries
(``run_state``); ``fit``, which assembles a run (``run``). Then what these use: the data on the
device (``device_data``), scoring a split (``evaluation``), the end of a run (``final_test``),
making a run ready (``preparing``) and resuming one (``resuming``), how a run starts: afresh,
resumed or continued (``starting``), its outputs checked and claimed (``outputs``), every
setting and the presets (``config``), the checkpoint format (``checkpoint``), the folder of a
run's checkpoints and its lock (``checkpoint_folder``), the best epoch and early stopping
(``early_stopping``), whether a run fits on its device (``memory``), the metrics file
(``metrics_log``) and Ctrl-C, SIGTERM and SIGHUP as requests (``interrupt``)."""
