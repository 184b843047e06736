"""The mathematics of xpnet, written once against the Array API: read this to learn backprop.

Reading order: ``ops`` (one-hot, ReLU, softmax, cross-entropy, accuracy), ``layers`` (Dense,
ReLU, Dropout and the softmax cross-entropy loss, each with its backward pass beside its
forward pass), ``model`` (the MLP as a sequence of layers, forward and backward), ``init``
(initial weights, drawn on the host), ``optim`` (SGD, momentum, Nesterov, Adam, AdamW),
``schedules`` (learning rate per step) and ``dropout`` (masks drawn on the host, once per
epoch).
Nothing here knows which library it runs on; ``xpnet.backend`` chooses that.
"""
