"""Every hyperparameter in one dataclass, and the presets that replay the seed notebooks."""

from __future__ import annotations

import dataclasses
import difflib
import os
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..arguments import MAX_COUNT, MAX_LAYERS, MAX_SEED, MAX_THREADS, MAX_WIDTH, option, passing, shown, whole_number
from ..errors import UsageError
from ..nn.architecture import EXAMPLE, Architecture, parse_arch
from ..nn.augment import shift_size
from ..nn.checks import ParameterError, whole
from .early_stopping import MONITORS
from ..nn.dropout import dropout_rate
from ..nn.init import check_schemes
from ..nn.optim import make_optimizer
from ..nn.schedules import make_schedule

DTYPES = ("float32", "float64")
#: A CNN's patches take some 450 KB an image (conv32k5 then conv64k5): it evaluates this many at a time at most.
CNN_EVAL_BATCH = 500
#: The one table from what xpnet.nn calls a parameter to how Config and the trainer name it: the keyword,
#: then its flag. A parameter not here is named in nn's own words (the optimiser's name is named by value).
SETTING_NAMES = {
    "lr": "the learning rate lr (--lr)", "base_lr": "the learning rate lr (--lr)",
    "weight_decay": "the weight decay weight_decay (--weight-decay)", "momentum": "momentum (--momentum)",
    "beta1": "beta1 (--beta1)", "beta2": "beta2 (--beta2)", "eps": "the epsilon eps (--eps)", "rho": "rho (--rho)",
    "p": "dropout (--dropout)", "shift": "the largest shift (--shift)", "epochs": "epochs (--epochs)",
    "warmup_epochs": "warmup_epochs (--warmup-epochs)", "text": "--arch",
}


@contextmanager
def as_usage_errors():
    """Re-raise an xpnet.nn :class:`~xpnet.nn.checks.ParameterError` as a :class:`UsageError` (exit status 2)
    naming the setting as :data:`SETTING_NAMES` says."""
    try:
        yield
    except ParameterError as error:
        words = SETTING_NAMES.get(error.parameter)
        raise UsageError(str(error) if words is None else error.naming(words)) from None


def _layer_sizes(hidden) -> tuple[int, ...]:
    """Hidden sizes as a tuple: from a tuple or list, one int, or text as the command line takes it
    (``'512,256'``; ``''`` or ``'none'`` for none); at most MAX_LAYERS of 1 to MAX_WIDTH; UsageError otherwise."""
    what = f"hidden sizes (--hidden) must be whole numbers from 1 to {MAX_WIDTH:,}"
    if isinstance(hidden, str):
        text = hidden.strip().lower()
        parts = [] if text in ("", "none") else [part.strip() for part in text.split(",")]
        try:
            hidden = [whole_number(part, "size", MAX_WIDTH, 1) for part in parts]
        except UsageError:
            raise UsageError(f"{what}, such as 512,256, got {shown(hidden)}") from None
    elif isinstance(hidden, int) and not isinstance(hidden, bool):
        hidden = [hidden]
    elif not isinstance(hidden, (tuple, list)):
        raise UsageError(f"hidden must be layer sizes such as (512, 256), 512 or '512,256', got {shown(hidden)}")
    if len(hidden) > MAX_LAYERS:
        raise UsageError(f"hidden (--hidden) has {len(hidden)} layers, and at most {MAX_LAYERS} are allowed (a deeper "
                         "network takes minutes to compile and gigabytes of memory); use fewer")
    sizes = tuple(whole("each hidden size (--hidden)", size, 1) for size in hidden)
    if any(size > MAX_WIDTH for size in sizes):
        raise UsageError(f"{what}, got {shown(hidden)}")
    return sizes


@dataclass
class Config:
    """A training run, fully described. ``batch_size=None`` means full-batch gradient descent."""

    dataset: str = "mnist"
    data_dir: str | None = None
    download: bool = True
    backend: str = "auto"
    device: str = "auto"
    dtype: str = "float32"
    hidden: tuple[int, ...] = (128,)
    arch: str = ""  # a network in one line (xpnet.nn.architecture); "" is the MLP of ``hidden``
    init: str = "he"
    bias_init: str = "zeros"
    lr: float = 0.1
    optimizer: str = "sgd"
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    rho: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_epochs: int = 0
    dropout: float = 0.0
    shift: int = 0  # random shifts of up to this many pixels, drawn per image and epoch (xpnet.nn.augment)
    batch_size: int | None = 128
    epochs: int = 10
    seed: int = 1
    dev_size: int = 0
    early_stopping: int = 0
    monitor: str = "dev_loss"
    keep_best: bool = False
    normalize: bool = True
    log_interval: int | None = None  # print every N batches (steps) of the run; None: a line per epoch
    eval_batch_size: int = 10000
    dry_run: bool = False
    threads: int | None = None
    compile: bool | None = None

    def validate(self) -> "Config":
        """Raise :class:`UsageError` with one line for any value that cannot work; return self."""
        with as_usage_errors():
            return self._validate()

    def _validate(self) -> "Config":
        self._check_types()
        self.hidden = _layer_sizes(self.hidden)
        tokens = parse_arch(self.arch)
        if tokens:  # the fc widths are the hidden layers; an all-fc network is the MLP of --hidden
            self.hidden = tuple(int(token[2:]) for token in tokens if token.startswith("fc"))
        self.arch = ",".join(tokens) if any(not token.startswith("fc") for token in tokens) else ""
        if self.dtype not in DTYPES:
            raise UsageError(f"bad dtype {self.dtype!r}; choose one of {', '.join(DTYPES)}")
        check_schemes(self.init, self.bias_init)
        self.optimizer, self.schedule = str(self.optimizer).lower(), str(self.schedule).lower()
        self.make_optimizer()  # checks the learning rate and the optimiser's settings
        self.make_schedule(1)  # checks the epochs and the warmup
        dropout_rate(self.dropout)
        self.shift = shift_size(self.shift)
        if self.batch_size is not None:
            whole("batch_size (--batch-size; None for the full batch)", self.batch_size, 1)
        for name, minimum, maximum in (("seed", 0, MAX_SEED), ("eval_batch_size", 1, MAX_COUNT),
                                       ("dev_size", 0, MAX_COUNT)):
            setattr(self, name, whole(f"{name} (--{name.replace('_', '-')})", getattr(self, name), minimum, maximum))
        if self.log_interval is not None:  # None: a line per epoch
            self.log_interval = whole("log_interval (--log-interval)", self.log_interval, 1, MAX_COUNT)
        if isinstance(self.threads, int) and self.threads > MAX_THREADS:
            raise UsageError(f"threads (--threads) must be at most {MAX_THREADS}, got {self.threads}")
        if self.threads is not None:
            whole("threads (--threads)", self.threads, 1, MAX_THREADS)
        self.early_stopping = whole("patience (--early-stopping)", self.early_stopping, 0)
        if self.monitor not in MONITORS:
            raise UsageError(f"bad monitor {self.monitor!r}; choose one of {', '.join(MONITORS)}")
        if (self.early_stopping or self.keep_best) and not self.dev_size:
            flag = option("--early-stopping" if self.early_stopping else "--keep-best")
            raise UsageError(f"{flag} watches the dev split, and there is none: add {passing('--dev-size', 'N')} "
                             f"(e.g. {passing('--dev-size', '5000')})")
        return self

    def check_dropout_has_units(self) -> None:
        """UsageError when dropout is asked of a network with no fc layer to drop units of (a new
        run's check: the checkpoints of older runs, where it did nothing, still load)."""
        if self.dropout and not self.hidden:
            where = (f"{passing('--arch', self.arch)} has no fc layer" if self.arch
                     else "softmax regression has no hidden layer")
            raise UsageError(f"dropout (--dropout) drops units of the fc layers, and {where}: add one, or leave "
                             f"out {option('--dropout')}")

    def _check_types(self) -> None:
        """Names are strings, switches are bools: what a Python caller might get wrong before any value."""
        defaults = Config.__dataclass_fields__
        for name in ("dataset", "data_dir", "backend", "device", "dtype", "init", "bias_init", "optimizer",
                     "schedule", "monitor", "arch"):
            value = getattr(self, name)
            if isinstance(value, os.PathLike) and name in ("dataset", "data_dir"):
                setattr(self, name, os.fspath(value))
            elif not isinstance(value, str) and not (value is None and name == "data_dir"):
                example = EXAMPLE if name == "arch" else defaults[name].default
                raise UsageError(f"{name} must be a string such as {example!r}, got {shown(value)}")
        for name in ("download", "normalize", "dry_run", "keep_best"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{name} must be True or False, got {shown(getattr(self, name))}")
        if self.compile is not None and not isinstance(self.compile, bool):
            raise UsageError(f"compile must be True, False or None (the backend's default), got {shown(self.compile)}")

    def network(self, image_shape, num_classes: int) -> Architecture:
        """The network these settings describe for images of ``image_shape`` and ``num_classes`` classes."""
        with as_usage_errors():
            if self.arch:
                return Architecture.of(self.arch, image_shape, num_classes)
            return Architecture.mlp(self.hidden, image_shape, num_classes)

    def evaluation_batch(self, network: Architecture) -> int:
        """Images evaluated at a time: ``eval_batch_size``, at most :data:`CNN_EVAL_BATCH` for a CNN."""
        return min(self.eval_batch_size, CNN_EVAL_BATCH) if network.is_convolutional else self.eval_batch_size

    def make_optimizer(self):
        """The optimiser these settings describe (UsageError for impossible values)."""
        with as_usage_errors():
            return make_optimizer(self.optimizer, self.lr, momentum=self.momentum, beta1=self.beta1,
                                  beta2=self.beta2, eps=self.eps, weight_decay=self.weight_decay, rho=self.rho)

    def make_schedule(self, steps_per_epoch: int):
        """The learning-rate schedule of these settings for epochs of ``steps_per_epoch`` steps."""
        with as_usage_errors():
            return make_schedule(self.schedule, self.lr, self.epochs, steps_per_epoch, self.warmup_epochs)

    def replace(self, **changes) -> "Config":
        """A copy with ``changes`` applied (unknown names raise UsageError)."""
        known = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(known))
        if unknown:
            # A flag's spelling (dev-size) or a near miss (epoch) gets the keyword meant.
            meant = [close[0] for name in unknown
                     if (close := difflib.get_close_matches(name.replace("-", "_"), known, n=1, cutoff=0.8))]
            hint = f"; did you mean {', '.join(f'{name}=' for name in meant)}?" if meant else ""
            raise UsageError(f"unknown setting(s): {', '.join(unknown)}{hint}")
        return dataclasses.replace(self, **changes)

    def found_data_dir(self, given) -> "Config":
        """This config, without its ``data_dir`` when none is ``given`` now and the recorded one is
        gone (a run resumed or loaded on another machine): the data are then looked for where no
        folder is given."""
        if given is None and self.data_dir is not None and not os.path.isdir(self.data_dir):
            return self.replace(data_dir=None)
        return self

    def to_dict(self) -> dict:
        """Plain JSON-ready values (tuples become lists)."""
        values = dataclasses.asdict(self)
        values["hidden"] = list(self.hidden)
        return values


@dataclass(frozen=True)
class Preset:
    """A named recipe: the settings it changes and where it comes from."""

    description: str
    settings: dict = field(default_factory=dict)


#: The named recipes of ``--preset`` and ``fit(preset=...)``: the seed notebooks and better ones.
PRESETS: dict[str, Preset] = {
    "seed000": Preset(
        "softmax regression, SGD lr 0.1, batch 256, 8 epochs (notebook 000: 91.58% test)",
        dict(hidden=(), init="normal:0.01", lr=0.1, batch_size=256, epochs=8, seed=42),
    ),
    "seed001": Preset(
        "MLP 784-128-10, SGD lr 0.1, batch 128, 8 epochs (notebook 001 printed 96.33% test; xpnet, replaying "
        "its draws on NumPy: 96.31%)",
        dict(hidden=(128,), init="normal:0.02", lr=0.1, batch_size=128, epochs=8, seed=0),
    ),
    "seed002": Preset(
        "MLP 784-128-10 on raw 0..255 pixels, full-batch GD lr 0.001, 200 epochs (notebook 002)",
        dict(hidden=(128,), init="normal:0.01", normalize=False, lr=0.001, batch_size=None, epochs=200,
             seed=0, log_interval=10),
    ),
    "seed003": Preset(
        "MLP 784-128-10, uniform(-0.5, 0.5) init, full-batch GD lr 0.1, 500 epochs (notebook 003)",
        dict(hidden=(128,), init="uniform:0.5", lr=0.1, batch_size=None, epochs=500, seed=0, log_interval=50),
    ),
    "seed004": Preset(
        "MLP 784-10-10, uniform(-0.5, 0.5) weights and biases, full-batch GD lr 0.2, 500 iterations, "
        "1000-example dev split (notebook 004: 85.6% dev)",
        dict(hidden=(10,), init="uniform:0.5", bias_init="same", lr=0.2, batch_size=None, epochs=500,
             dev_size=1000, seed=0, log_interval=50),
    ),
    "fast": Preset(
        "MLP 784-512-10, AdamW lr 0.002 weight decay 0.05, dropout 0.1, cosine, batch 128, 5 epochs "
        "(MNIST: 98.21% test, 10-11 s of training on 2 CPU cores)",
        dict(hidden=(512,), init="he", optimizer="adamw", lr=0.002, weight_decay=0.05, dropout=0.1,
             schedule="cosine", batch_size=128, epochs=5, seed=0),
    ),
    "best": Preset(
        "MLP 784-512-512-10, AdamW lr 0.002 weight decay 0.05, dropout 0.3, cosine, batch 256, 18 epochs "
        "(MNIST: 98.63% test, 42-51 s of training on 2 CPU cores)",
        dict(hidden=(512, 512), init="he", optimizer="adamw", lr=0.002, weight_decay=0.05, dropout=0.3,
             schedule="cosine", batch_size=256, epochs=18, seed=0),
    ),
    "keras": Preset(
        "Keras's mnist_mlp.py: MLP 784-512-512-10, glorot-uniform init, RMSprop lr 0.001 rho 0.9 eps 1e-7, "
        "dropout 0.2, batch 128, 20 epochs (Keras: 98.40% test; xpnet on MNIST, seed 0: 98.38%)",
        dict(hidden=(512, 512), init="xavier", optimizer="rmsprop", lr=0.001, rho=0.9, eps=1e-7, dropout=0.2,
             batch_size=128, epochs=20, seed=0),
    ),
    "lenet": Preset(
        "LeNet-5's layers with ReLU and max-pooling: conv6k5 (same), pool, conv16k5v, pool, fc120, fc84; "
        "AdamW lr 0.002 weight decay 0.05, cosine, batch 128, 10 epochs (MNIST: 99.20% test, 282 s of training "
        "on 2 CPU cores)",
        dict(arch="conv6k5,pool,conv16k5v,pool,fc120,fc84", init="he", optimizer="adamw", lr=0.002,
             weight_decay=0.05, schedule="cosine", batch_size=128, epochs=10, seed=0, log_interval=100),
    ),
    "cnn": Preset(
        "CNN conv16k5, pool, conv32k5v, pool, fc128, on images shifted at random by up to 1 pixel; AdamW lr "
        "0.003 weight decay 0.05, dropout 0.1, cosine, batch 128, 5 epochs (MNIST: 99.47% test, mean of seeds 0-2, "
        "277-286 s of training on 2 CPU cores; Fashion-MNIST: 90.80%)",
        dict(arch="conv16k5,pool,conv32k5v,pool,fc128", init="he", optimizer="adamw", lr=0.003, weight_decay=0.05,
             schedule="cosine", dropout=0.1, shift=1, batch_size=128, epochs=5, seed=0, log_interval=100),
    ),
}


def from_preset(name: str | None, **overrides) -> Config:
    """``Config()`` with preset ``name``'s settings, then ``overrides``, validated."""
    if "arch" in overrides and "hidden" in overrides:
        raise UsageError(f"give the hidden layers either with {option('--arch')} (fcN tokens) or with "
                         f"{option('--hidden')}, not both")
    config = Config()
    if name is not None:
        if not isinstance(name, str) or name not in PRESETS:
            raise UsageError(f"unknown preset {shown(name)}; choose one of {', '.join(PRESETS)}")
        if "hidden" in overrides and "arch" in PRESETS[name].settings:
            raise UsageError(f"preset {name} is the network {PRESETS[name].settings['arch']}: change its fc "
                             f"layers with {option('--arch')}, not {option('--hidden')}")
        config = config.replace(**PRESETS[name].settings)
    return config.replace(**overrides).validate()
