"""The mathematics of xpnet, written once against the Array API: read this to learn backprop.

Reading order: ``ops`` (one-hot, ReLU, softmax, cross-entropy, accuracy), ``layers`` (Dense,
ReLU, Dropout and the softmax cross-entropy loss, each with its backward pass beside its
forward pass), ``conv`` (Conv2d as an im2col gather, max and average pooling, Flatten, each
backward pass beside its forward pass), ``architecture`` (a network in one line, such as
``conv32k5,pool,fc256``: its layers, shapes and fans), ``network`` (a network as a sequence of
layers: forward, loss, backward in reverse), ``init`` (initial weights, drawn on the host),
``optim`` (SGD, momentum, Nesterov, Adam, AdamW, RMSprop, Adagrad), ``schedules`` (learning
rate per step), ``dropout`` (masks drawn on the host, once per epoch), ``augment`` (random
shifts of the training images, drawn on the host) and ``checks`` (the checks every
hyperparameter passes, written once).
Nothing here knows which library it runs on; ``xpnet.backend`` chooses that.
"""
