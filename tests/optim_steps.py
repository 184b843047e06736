"""One optimiser step in a test, taken as training takes it: ``state_for``, ``coefficients``,
``update``, ``adopt`` (see :mod:`xpnet.nn.optim`)."""

from array_api_compat import array_namespace


def next_scale(optimizer) -> float:
    """The factor the backward pass applies to the next step's gradients: SGD's ``lr``, else 1.0."""
    return optimizer.coefficients(optimizer.lr, optimizer.steps + 1).get("scale", 1.0)


def take_step(optimizer, params, grads):
    """The new ``params`` ``[(W, b), ...]`` after one step by ``grads``, which carry :func:`next_scale`."""
    state, step = optimizer.state_for(params), optimizer.steps + 1
    c = optimizer.coefficients(optimizer.lr, step)
    params, state = optimizer.update(params, grads, state, c, xp=array_namespace(params[0][0]))
    optimizer.adopt(state, step)
    return params
