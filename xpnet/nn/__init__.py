"""The mathematics of xpnet, written once against the Array API: read this to learn backprop.

Reading order: ``ops`` (one-hot, ReLU, softmax, cross-entropy, accuracy), ``model`` (the
forward pass and, beside it, the hand-written backward pass), ``init`` (initial weights,
drawn on the host), ``optim`` (SGD, momentum, Nesterov, Adam, AdamW), ``schedules``
(learning rate per step) and ``dropout`` (masks drawn on the host, once per epoch).
Nothing here knows which library it runs on; ``xpnet.backend`` chooses that.
"""
