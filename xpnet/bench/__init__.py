"""``python -m xpnet.bench``: xpnet's training speed beside its peers (``command``), the
hand-written reference implementations (``references``) and the report (``report``)."""
