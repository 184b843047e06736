"""``python -m xpnet.bench``: xpnet's training speed beside its peers (``command``), the
hand-written reference implementations (``references``), the host dispatches per epoch
counted by PyTorch's dispatcher (``dispatches``) and the report (``report``)."""
