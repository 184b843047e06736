"""The optimisers against an oracle, step by step, on every backend.

The oracle is ``torch.optim`` in float64 on identical parameters and gradients, or,
where PyTorch is not installed, the textbook formulas written below in NumPy float64
(which are themselves checked against ``torch.optim`` where it is).
"""

import importlib.util

import numpy as np
import pytest
from optim_steps import next_scale, take_step

from xpnet.backend import resolve, to_numpy
from xpnet.nn.optim import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, Momentum, Nesterov, RMSprop, make_optimizer

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_STRICT = importlib.util.find_spec("array_api_strict") is not None
if HAS_STRICT:
    from test_syncs import host_conversions  # noqa: F401 (the fixture)

SHAPES = [((5, 4), (4,)), ((4, 3), (3,))]
STEPS = 6
# PyTorch's defaults; Adagrad's eps is its own (1e-10), taken where a case gives none.
DEFAULTS = {"momentum": 0.9, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0, "rho": 0.99}
ADAGRAD_EPS = 1e-10
CASES = {
    "sgd": ("sgd", {}),
    "sgd-wd": ("sgd", {"weight_decay": 0.1}),
    "momentum": ("momentum", {}),
    "momentum-wd": ("momentum", {"momentum": 0.8, "weight_decay": 0.05}),
    "nesterov": ("nesterov", {}),
    "nesterov-wd": ("nesterov", {"momentum": 0.7, "weight_decay": 0.05}),
    "adam": ("adam", {}),
    "adam-wd": ("adam", {"beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.05}),
    "adamw-wd": ("adamw", {"weight_decay": 0.1}),
    "rmsprop": ("rmsprop", {}),
    "rmsprop-wd": ("rmsprop", {"rho": 0.9, "eps": 1e-6, "weight_decay": 0.05}),
    "adagrad": ("adagrad", {}),
    "adagrad-wd": ("adagrad", {"eps": 1e-8, "weight_decay": 0.05}),
}
ONE_PER_OPTIMIZER = ["sgd-wd", "momentum-wd", "nesterov", "adam-wd", "adamw-wd", "rmsprop-wd", "adagrad-wd"]
LEARNING_RATES = {
    "constant-lr": [0.1] * STEPS,
    "changing-lr": [0.1, 0.05, 0.2, 0.01, 0.0, 0.07],  # as a schedule changes it between steps
}


def _host_params(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(w).astype(dtype), rng.standard_normal(b).astype(dtype)) for w, b in SHAPES]


def _host_grads(steps=STEPS, seed=1, dtype=np.float64):
    return [_host_params(seed + step, dtype) for step in range(steps)]


def _flat(pairs):
    return [array for pair in pairs for array in pair]


def _torch_steps(name, hyper, host_params, host_grads, lrs):
    """Parameters (flat, host) after each step of ``torch.optim``."""
    import torch

    h = {**DEFAULTS, **hyper}
    flat = [torch.tensor(a) for a in _flat(host_params)]
    betas, wd = (h["beta1"], h["beta2"]), h["weight_decay"]
    optimizer = {
        "sgd": lambda: torch.optim.SGD(flat, lr=lrs[0], weight_decay=wd),
        "momentum": lambda: torch.optim.SGD(flat, lr=lrs[0], momentum=h["momentum"], weight_decay=wd),
        "nesterov": lambda: torch.optim.SGD(flat, lr=lrs[0], momentum=h["momentum"], nesterov=True,
                                            weight_decay=wd),
        "adam": lambda: torch.optim.Adam(flat, lr=lrs[0], betas=betas, eps=h["eps"], weight_decay=wd),
        "adamw": lambda: torch.optim.AdamW(flat, lr=lrs[0], betas=betas, eps=h["eps"], weight_decay=wd),
        "rmsprop": lambda: torch.optim.RMSprop(flat, lr=lrs[0], alpha=h["rho"], eps=h["eps"], weight_decay=wd),
        # torch's own eps default where the case gives none: make_optimizer must take the same.
        "adagrad": lambda: torch.optim.Adagrad(flat, lr=lrs[0], weight_decay=wd,
                                               **({"eps": hyper["eps"]} if "eps" in hyper else {})),
    }[name]()
    history = []
    for lr, grads in zip(lrs, host_grads):
        for group in optimizer.param_groups:
            group["lr"] = lr
        for p, g in zip(flat, _flat(grads)):
            p.grad = torch.tensor(g)
        optimizer.step()
        history.append([p.detach().numpy().copy() for p in flat])
    return history


def _numpy_steps(name, hyper, host_params, host_grads, lrs):
    """Parameters (flat, host) after each step of the textbook update, in NumPy float64."""
    h = {**DEFAULTS, **hyper}
    mu, wd, b1, b2, rho = h["momentum"], h["weight_decay"], h["beta1"], h["beta2"], h["rho"]
    eps = hyper.get("eps", ADAGRAD_EPS) if name == "adagrad" else h["eps"]
    params = [a.astype(np.float64) for a in _flat(host_params)]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    history = []
    for t, (lr, grads) in enumerate(zip(lrs, host_grads), start=1):
        for i, g in enumerate(_flat(grads)):
            p = params[i]
            if name == "adamw":
                p = p * (1 - lr * wd)
            else:
                g = g + wd * p
            if name == "sgd":
                p = p - lr * g
            elif name in ("momentum", "nesterov"):
                first[i] = g if t == 1 else mu * first[i] + g
                p = p - lr * (first[i] if name == "momentum" else g + mu * first[i])
            elif name == "rmsprop":
                second[i] = rho * second[i] + (1 - rho) * g * g
                p = p - lr * g / (np.sqrt(second[i]) + eps)
            elif name == "adagrad":
                second[i] = second[i] + g * g
                p = p - lr * g / (np.sqrt(second[i]) + eps)
            else:
                first[i] = b1 * first[i] + (1 - b1) * g
                second[i] = b2 * second[i] + (1 - b2) * g * g
                m_hat, v_hat = first[i] / (1 - b1 ** t), second[i] / (1 - b2 ** t)
                p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
            params[i] = p
        history.append([p.copy() for p in params])
    return history


_oracle = _torch_steps if HAS_TORCH else _numpy_steps


def _device_params(backend, host_params):
    return [(backend.asarray(W), backend.asarray(b)) for W, b in host_params]


def _xpnet_steps(backend, optimizer, params, host_grads, lrs):
    """Parameters (flat, host) after each step, gradients scaled by the step's ``scale`` as train_epoch does."""
    history = []
    for lr, grads in zip(lrs, host_grads):
        optimizer.lr = lr
        scale = next_scale(optimizer)
        device_grads = [(backend.asarray(dW) * scale, backend.asarray(db) * scale) for dW, db in grads]
        before = _flat(params)
        params = take_step(optimizer, params, device_grads)
        # The caller keeps what update returns; arrays that can change are updated in place, not copied.
        # JAX's cannot: there update returns new arrays and leaves the old ones as they were.
        if backend.name == "jax":
            assert all(a is not b for a, b in zip(_flat(params), before))
        else:
            assert all(a is b for a, b in zip(_flat(params), before)), "step must update mutable arrays in place"
        history.append([to_numpy(a).copy() for a in _flat(params)])
    return history


@pytest.mark.parametrize("lrs", LEARNING_RATES.values(), ids=LEARNING_RATES.keys())
@pytest.mark.parametrize("case", CASES)
def test_each_optimizer_matches_the_oracle(backend, case, lrs):
    name, hyper = CASES[case]
    expected = _oracle(name, hyper, _host_params(), _host_grads(), lrs)
    optimizer = make_optimizer(name, lrs[0], **hyper)
    got = _xpnet_steps(backend, optimizer, _device_params(backend, _host_params()), _host_grads(), lrs)
    for step, (got_step, expected_step) in enumerate(zip(got, expected), start=1):
        for got_array, expected_array in zip(got_step, expected_step):
            assert got_array.dtype == np.float64
            np.testing.assert_allclose(got_array, expected_array, rtol=1e-12, atol=0, err_msg=f"step {step}")
    assert not np.allclose(got[-1][0], _host_params()[0][0])


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("lrs", LEARNING_RATES.values(), ids=LEARNING_RATES.keys())
@pytest.mark.parametrize("case", CASES)
def test_the_numpy_fallback_oracle_agrees_with_torch(case, lrs):
    name, hyper = CASES[case]
    expected = _torch_steps(name, hyper, _host_params(), _host_grads(), lrs)
    got = _numpy_steps(name, hyper, _host_params(), _host_grads(), lrs)
    for got_step, expected_step in zip(got, expected):
        for got_array, expected_array in zip(got_step, expected_step):
            np.testing.assert_allclose(got_array, expected_array, rtol=1e-12, atol=0)


@pytest.mark.parametrize("transfer", ["to_device", "at-next-step"])
@pytest.mark.parametrize("case", ONE_PER_OPTIMIZER)
def test_a_restored_state_continues_bit_identically(backend, case, transfer):
    name, hyper = CASES[case]
    lrs = LEARNING_RATES["changing-lr"]
    grads = _host_grads()
    straight = _xpnet_steps(backend, make_optimizer(name, lrs[0], **hyper),
                            _device_params(backend, _host_params()), grads, lrs)

    first = make_optimizer(name, lrs[0], **hyper)
    params = _device_params(backend, _host_params())
    flat = _xpnet_steps(backend, first, params, grads[:3], lrs[:3])[-1]  # what step returned (JAX: new arrays)
    state = first.state_dict()
    host_params = list(zip(flat[0::2], flat[1::2]))
    del first, params

    second = make_optimizer(name, 1.0, **hyper)
    second.load_state_dict(state, backend.asarray if transfer == "to_device" else None)
    resumed = _xpnet_steps(backend, second, _device_params(backend, host_params), grads[3:], lrs[3:])
    for got_step, expected_step in zip(resumed, straight[3:]):
        for got_array, expected_array in zip(got_step, expected_step):
            assert np.array_equal(got_array, expected_array)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_the_state_survives_a_checkpoint_file(tmp_path, suffix):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    from xpnet.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from xpnet.training.config import Config

    backend = resolve("numpy", "cpu")
    lrs, grads = LEARNING_RATES["changing-lr"], _host_grads()
    straight = _xpnet_steps(backend, AdamW(0.1, weight_decay=0.1), _device_params(backend, _host_params()),
                            grads, lrs)
    optimizer, params = AdamW(0.1, weight_decay=0.1), _device_params(backend, _host_params())
    _xpnet_steps(backend, optimizer, params, grads[:3], lrs[:3])
    path = save_checkpoint(tmp_path / f"state{suffix}", Checkpoint(
        params=[(to_numpy(W), to_numpy(b)) for W, b in params], config=Config(hidden=(4,), dtype="float64").to_dict(),
        epoch=1, history=[], rng_state=np.random.default_rng(0).bit_generator.state,
        optimizer_state=optimizer.state_dict(), num_classes=3, image_shape=(1, 5)))
    checkpoint = load_checkpoint(path)
    restored = AdamW(0.1, weight_decay=0.1)
    restored.load_state_dict(checkpoint.optimizer_state, backend.asarray)
    resumed = _xpnet_steps(backend, restored, _device_params(backend, checkpoint.params), grads[3:], lrs[3:])
    assert all(np.array_equal(a, b) for got, want in zip(resumed, straight[3:]) for a, b in zip(got, want))


@pytest.mark.parametrize("case", ONE_PER_OPTIMIZER)
def test_state_dict_holds_named_host_arrays(backend, case):
    name, hyper = CASES[case]
    optimizer = make_optimizer(name, 0.1, **hyper)
    _xpnet_steps(backend, optimizer, _device_params(backend, _host_params()), _host_grads(3), [0.1] * 3)
    state = optimizer.state_dict()
    slots = {"sgd": (), "momentum": ("v",), "nesterov": ("v",), "adam": ("m", "v"), "adamw": ("m", "v"),
             "rmsprop": ("s",), "adagrad": ("G",)}[name]
    if not slots:
        assert state == {}
        return
    shapes = {f"{slot}.{layer}.{which}": shape for slot in slots
              for layer, pair in enumerate(SHAPES) for which, shape in zip("Wb", pair)}
    assert set(state) == {"step", *shapes}
    assert state["step"].shape == () and state["step"].dtype == np.int64 and int(state["step"]) == 3
    for key, shape in shapes.items():
        assert type(state[key]) is np.ndarray and state[key].shape == shape and state[key].dtype == np.float64
    # A state loaded but not yet used is saved as it was loaded.
    restored = make_optimizer(name, 0.1, **hyper)
    restored.load_state_dict(state)
    again = restored.state_dict()
    assert set(again) == set(state) and all(np.array_equal(again[k], state[k]) for k in state)


def _adam_state(layers=2, step=3, kind=Adam):
    optimizer = kind(0.1)
    params = [(np.zeros(w), np.zeros(b)) for w, b in SHAPES[:layers]]
    take_step(optimizer, params, [(np.ones(w), np.ones(b)) for w, b in SHAPES[:layers]])
    state = optimizer.state_dict()
    state["step"] = np.asarray(step, dtype=np.int64)
    return state


@pytest.mark.parametrize("optimizer, state, words", [
    (Momentum(0.1), _adam_state(), "unexpected m.0.W"),
    (Nesterov(0.1), {"step": np.asarray(2)}, "holds no v buffers"),
    (Adam(0.1), {k: v for k, v in _adam_state().items() if k != "v.1.b"}, "missing v.1.b"),
    (AdamW(0.1), {k: v for k, v in _adam_state().items() if k != "step"}, "no 'step'"),
    (Adam(0.1), {**_adam_state(), "step": np.asarray([1, 2])}, "0-d count"),
    (Adam(0.1), {}, "no 'step'"),
    (SGD(0.1), _adam_state(), "SGD keeps no state"),
    (RMSprop(0.1), _adam_state(kind=Momentum), "unexpected v.0.W"),
    (Momentum(0.1), _adam_state(kind=RMSprop), "unexpected s.0.W"),
    (Adagrad(0.1), _adam_state(kind=RMSprop), "unexpected s.0.W, s.0.b"),
    (RMSprop(0.1), _adam_state(kind=Adagrad), "unexpected G.0.W"),
    (Adagrad(0.1), {k: v for k, v in _adam_state(kind=Adagrad).items() if k != "G.1.W"}, "missing G.1.W"),
])
def test_a_mismatched_state_is_refused(optimizer, state, words):
    with pytest.raises(ValueError, match=words):
        optimizer.load_state_dict(state)


@pytest.mark.parametrize("transfer", [None, np.array])
def test_a_state_for_another_model_is_refused_before_any_update(transfer):
    params = [(np.zeros(w), np.zeros(b)) for w, b in SHAPES]
    grads = [(np.ones(w), np.ones(b)) for w, b in SHAPES]
    optimizer = Adam(0.1)
    optimizer.load_state_dict(_adam_state(layers=1), transfer)
    with pytest.raises(ValueError, match="1 layer"):
        take_step(optimizer, params, grads)
    state = _adam_state()
    state["m.1.W"] = np.zeros((3, 4))
    optimizer.load_state_dict(state, transfer)
    with pytest.raises(ValueError, match=r"m\.1\.W is \(3, 4\)"):
        take_step(optimizer, params, grads)
    optimizer.load_state_dict({**_adam_state(), "v.0.b": np.zeros(4, dtype=np.float32)}, transfer)
    with pytest.raises(ValueError, match="float32"):
        take_step(optimizer, params, grads)
    assert all(not np.any(p) for p in _flat(params))


@pytest.mark.parametrize("case", ONE_PER_OPTIMIZER)
def test_float32_stays_float32(backend, case):
    name, hyper = CASES[case]
    optimizer = make_optimizer(name, 0.1, **hyper)
    params = _device_params(backend, _host_params(dtype=np.float32))
    host32 = _host_grads(3, dtype=np.float32)
    float32 = params[0][0].dtype
    for grads in host32:
        scale = next_scale(optimizer)
        params = take_step(optimizer, params, [(backend.asarray(dW) * scale, backend.asarray(db) * scale)
                                               for dW, db in grads])
    assert all(p.dtype == float32 for p in _flat(params))
    assert all(value.dtype == np.float32 for key, value in optimizer.state_dict().items() if key != "step")
    expected = _oracle(name, hyper, _host_params(dtype=np.float32), host32, [0.1] * 3)[-1]
    for got, want in zip(_flat(params), expected):
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not HAS_STRICT, reason="array-api-strict is not installed")
@pytest.mark.parametrize("case", ONE_PER_OPTIMIZER)
def test_a_step_never_reaches_the_host(case, host_conversions):
    name, hyper = CASES[case]
    backend = resolve("array-api-strict", "device1")
    optimizer = make_optimizer(name, 0.1, **hyper)
    params = _device_params(backend, _host_params(dtype=np.float32))
    grads = [_device_params(backend, g) for g in _host_grads(4, dtype=np.float32)]
    host_conversions.clear()
    for step_grads in grads[:2]:
        optimizer.lr *= 0.5
        params = take_step(optimizer, params, step_grads)
    assert sum(host_conversions.values()) == 0, dict(host_conversions)
    state = optimizer.state_dict()  # the one way back, on purpose
    restored = make_optimizer(name, 0.1, **hyper)
    restored.load_state_dict(state)
    host_conversions.clear()
    for step_grads in grads[2:]:
        params = take_step(restored, params, step_grads)
    assert sum(host_conversions.values()) == 0, dict(host_conversions)
    assert all(p.device == backend.device for p in _flat(params))


@pytest.mark.skipif(not HAS_STRICT, reason="array-api-strict is not installed")
@pytest.mark.parametrize("case", ONE_PER_OPTIMIZER)
def test_a_training_epoch_with_each_optimizer_never_reaches_the_host(case, tiny_dataset,
                                                                      host_conversions):
    from xpnet.nn.init import init_params
    from xpnet.training.device_data import DeviceSplit, images_to_device, labels_to_device
    from xpnet.training.epoch import EpochPlan, train_epoch
    from xpnet.training.step import Step

    name, hyper = CASES[case]
    backend = resolve("array-api-strict", "device1")
    data = DeviceSplit(images_to_device(tiny_dataset.train_images, backend, "float32", True),
                       labels_to_device(tiny_dataset.train_labels, backend)).with_one_hot(10)
    rng = np.random.default_rng(0)
    params = [(backend.asarray(W), backend.asarray(b)) for W, b in init_params([784, 16, 10], rng)]
    order = backend.asarray(rng.permutation(data.size))
    host_conversions.clear()
    params, totals, finished = train_epoch(Step(make_optimizer(name, 0.01, **hyper)), params, data, 50, EpochPlan(order))
    assert finished and sum(host_conversions.values()) == 0, dict(host_conversions)
    first_loss, _ = totals.read()
    params, totals, _ = train_epoch(Step(make_optimizer(name, 0.01, **hyper)), params, data, 50, EpochPlan(order))
    assert totals.read()[0] < first_loss


def test_make_optimizer_builds_each_by_name():
    built = {name: make_optimizer(name.upper() if name == "adam" else name, 0.05, momentum=0.5, beta1=0.8,
                                  beta2=0.99, eps=1e-6, weight_decay=0.01) for name in OPTIMIZERS}
    assert [type(o) for o in built.values()] == [SGD, Momentum, Nesterov, Adam, AdamW, RMSprop, Adagrad]
    assert all(type(o.lr) is float and o.lr == 0.05 and o.weight_decay == 0.01 for o in built.values())
    assert built["nesterov"].momentum == 0.5
    assert (built["adamw"].beta1, built["adamw"].beta2, built["adamw"].eps) == (0.8, 0.99, 1e-6)
    assert built["adagrad"].eps == 1e-6 and built["rmsprop"].eps == 1e-6
    assert make_optimizer("rmsprop", 0.05, rho=0.5).rho == 0.5
    sgd = built["sgd"]
    sgd.lr = 0.2
    assert next_scale(sgd) == 0.2 and sgd.coefficients(sgd.lr, 1)["scale"] == 0.2
    assert all(next_scale(o) == 1.0 for name, o in built.items() if name != "sgd")


def test_unset_eps_and_rho_are_torchs_defaults_and_config_passes_its_own():
    from xpnet.training.config import Config

    assert (make_optimizer("adam", 0.1).eps, make_optimizer("adamw", 0.1).eps) == (1e-8, 1e-8)
    assert (make_optimizer("rmsprop", 0.1).eps, make_optimizer("rmsprop", 0.1).rho) == (1e-8, 0.99)
    assert make_optimizer("adagrad", 0.1).eps == 1e-10  # torch.optim.Adagrad's
    rmsprop = Config(optimizer="rmsprop").make_optimizer()
    assert (rmsprop.rho, rmsprop.eps) == (0.9, 1e-8) and type(rmsprop.rho) is float
    assert Config(optimizer="adagrad", eps=1e-10).make_optimizer().eps == 1e-10
    assert Config(optimizer="adagrad").make_optimizer().eps == 1e-8  # --eps is shared; its default is Adam's


@pytest.mark.parametrize("args, hyper, words", [
    (("adadelta", 0.1), {}, "unknown optimizer 'adadelta'; choose one of sgd, momentum, nesterov, adam, adamw, "
                            "rmsprop, adagrad"),
    (("sgd", -0.1), {}, "learning rate"),
    (("sgd", float("nan")), {}, "learning rate"),
    (("momentum", 0.1), {"momentum": 1.0}, "momentum must be in"),
    (("adam", 0.1), {"momentum": 0.9, "beta1": 1.5}, "beta1"),
    (("adamw", 0.1), {"beta1": 0.9, "beta2": 0.999, "eps": 0.0}, "eps"),
    (("adamw", 0.1), {"eps": 1e-8, "weight_decay": -1.0}, "weight decay"),
    (("rmsprop", 0.0), {}, "learning rate"),
    (("rmsprop", 0.1), {"eps": 1e-8, "weight_decay": 0.0, "rho": 1.0}, "rho must be in"),
    (("rmsprop", 0.1), {"eps": 1e-8, "weight_decay": 0.0, "rho": -0.1}, "rho must be in"),
    (("rmsprop", 0.1), {"eps": float("inf")}, "epsilon"),
    (("rmsprop", 0.1), {"eps": 1e-8, "weight_decay": -0.5}, "weight decay"),
    (("adagrad", float("inf")), {}, "learning rate"),
    (("adagrad", 0.1), {"eps": -1e-10}, "epsilon"),
    (("adagrad", 0.1), {"eps": 1e-10, "weight_decay": float("nan")}, "weight decay"),
])
def test_make_optimizer_refuses_bad_values(args, hyper, words):
    with pytest.raises(ValueError, match=words):
        make_optimizer(*args, **hyper)


def test_make_optimizer_refuses_a_keyword_that_is_no_hyperparameter():
    with pytest.raises(TypeError, match="unexpected keyword argument 'betas'"):
        make_optimizer("adam", 0.1, betas=(0.9, 0.99))
