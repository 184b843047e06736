import signal
import sys

from .command import main

status = main()
# Its work done and said, the bench ends: a Ctrl-C while the libraries' exit handlers run (JAX's take
# a while) ends the process at once, instead of printing a traceback from inside them. An ignored
# Ctrl-C stays ignored.
if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
sys.exit(status)
