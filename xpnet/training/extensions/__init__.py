"""What a run does besides training, each an :class:`~xpnet.training.loop.Extension` of its own.

In the order :func:`xpnet.fit` calls them: ``progress`` (a bar per epoch on a terminal),
``divergence`` (a clear stop when the loss or a parameter is not finite), ``dev_split`` (dev
loss and accuracy each epoch), ``best_epoch`` (the best epoch's weights, early stopping),
``metrics_file`` (the metrics, one JSON line per epoch), ``batch_lines`` (every
``--log-interval`` batches, the epoch's running loss and accuracy, off a terminal), ``terminal``
(the header, the epochs' lines, the test line), ``schedule_note`` (a resumed run whose schedule now spans more epochs),
``checkpoints`` (a checkpoint every N epochs, pruned, and one at every interruption),
``save_model`` (``--save`` at the end) and ``signals`` (Ctrl-C, SIGTERM and SIGHUP armed once
the run can save).
"""
