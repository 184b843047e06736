"""``python -m xpnet.bench``: xpnet's training speed beside its peers (``command``), what a run times
and roughly how long it takes (``plan``), the hand-written reference implementations (``references``),
whole recipes raced to the end beside PyTorch's (``recipes``),
the host dispatches per epoch counted by PyTorch's dispatcher (``dispatches``), the report (``report``)
and how a run answers Ctrl-C or SIGTERM (``stop``)."""
