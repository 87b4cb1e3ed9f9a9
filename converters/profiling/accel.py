"""An analytical model of a spatial PE-array accelerator with weight- and output-stationary dataflows.

SqueezeNext (Gholami et al., "SqueezeNext: Hardware-Aware Neural Network Design", CVPR-W 2018) was shaped
by simulating an embedded array that runs each layer in the better of a weight-stationary (WS) and an
output-stationary (OS) dataflow. This module is such a simulator, written from first principles (dataflow
vocabulary of Sze, Chen, Yang and Emer, "Efficient Processing of Deep Neural Networks: A Tutorial and
Survey", arXiv:1703.09039), not fitted to the paper's figures. ``simulate(layers.read(tflite), config)``
gives a ``TargetProfile`` with per-layer cycles, utilization, DRAM traffic and an energy split.

Hardware: an R x C array of PEs (one MAC per PE per cycle), each with a register file (RF, default 512 B
as in Eyeriss), a global buffer (GB, default 128 KiB), DRAM behind a bus of B bytes per cycle (default 8:
a 64-bit interface at the core clock, the width of Eyeriss's off-chip bus; 1.6 GB/s at the default
200 MHz, Eyeriss's clock). Every value is one word of ``word_bits`` (8: int8; 16 allowed), whatever the
.tflite's dtypes: the layer table's element counts are what move. Biases count as one word each.

Energy per access, normalized to one MAC (Chen, Emer and Sze, "Eyeriss: A Spatial Architecture for
Energy-Efficient Dataflow for Convolutional Neural Networks", ISCA 2016, Table IV): ALU 1, RF 1,
inter-PE network (NoC) 2, GB 6, DRAM 200. Convention: one access is one word read or written at that
level (the word of the configured width: the ratios are taken as width-independent); a word that a PE
receives over the array's buses, from the GB or from a neighbour, is one NoC access; a word read out of
the GB is one GB access; a word read from or written to DRAM is one DRAM access. E = sum_level A * e.

Notation per MAC layer: G groups, Ci = C_in / G, Co = C_out / G, K = k_h * k_w, P = H_out * W_out
(times the batch; a fully connected layer is a 1x1 convolution with P = its input rows), MACs
M = G Ci Co K P, kernel words Wk = G Ci Co K, weight words W = Wk + biases, input words I, output
words O = G Co P, t = ceil.

Weight stationary: PE (r, c) keeps the K weights of (input channel r, output channel c) in its RF
(double-buffered: 2K <= RF words, else the taps are split into ceil(K / (RF/2)) passes). Each cycle row r
receives one input word (channel r of one output pixel's tap), broadcast along the row; partial sums
flow down each column and the column's bottom accumulator adds the K taps. A layer runs in
  T_ws = t(G / g) * t(Ci / R) * t(Co / C) tiles, g = min(R // Ci, C // Co, G) groups packed on the
  diagonal when a group fits the array (zero weights off it), else g = 1;
  cycles_ws = T_ws * K * max(P, R) + R K: a tile streams its P pixels x K taps while the next tile's
  R C K weights load at C words per cycle (R K cycles, hidden unless P < R); the first load is not.
  A depthwise layer (Ci = Co = 1) keeps at most min(R, C) PEs of R C busy: utilization <= 1 / C.
  Accesses: alu M; rf M (weight reads) + Wk (weight writes) + 2 O t(Ci/R) K (column accumulator);
  noc 2 M (input broadcast, psum hop); gb Wk + I_r + O (2 n - 1), n = t(Ci/R) * tap passes partial-sum
  passes through the GB; I_r = G Ci K P t(Co/C) input reads (one per busy row per cycle).
Output stationary: PE (r, c) accumulates one output (pixel r of a tile, output channel c) in its RF.
Each cycle row r receives the input word of its pixel and column c the weight word of its channel, both
broadcast, for one (input channel, tap) of the Ci K reduction. Groups cannot share the array (a row's
input is one group's), so depthwise keeps one column busy.
  T_os = G * t(P / R) * t(Co / C) tiles; cycles_os = T_os * max(Ci K, R) + R: the R C finished outputs
  drain at C words per cycle (R cycles) under the next tile; the last drain is not hidden.
  Accesses: alu M; rf 2 M (accumulator read and write) + O (drain); noc 2 M + O;
  gb I_r + Wk t(P/R) (one weight read per busy column per cycle) + O.
Both: utilization = M / (cycles_compute * R C) <= 1, and cycles_compute >= M / (R C).

DRAM traffic (the same for both dataflows): a layer reads its inputs and weights from DRAM and writes its
outputs there (layer by layer, as Eyeriss runs; no fusion). When W + I + O words fit the GB each moves
once. Otherwise one operand stays in chunks of half the GB while the other streams past each chunk:
  keep inputs:  I + max(1, t(I / (GB/2))) W + O    (input rows in chunks, all output channels each time)
  keep weights: W + max(1, t(W / (GB/2))) I + O    (output-channel chunks, the whole input each time)
and the cheaper is taken; chunks cover whole reductions, so outputs are written once (halo rows of
input chunks are ignored). With ``activation_reuse`` (off by default) a layer's inputs, and its outputs,
skip DRAM when they fit half the GB: an optimistic bound on what keeping activations on chip between
layers saves (tensors live at once, such as shortcuts, are not charged for the GB they hold).
DRAM bytes D = words * word_bits / 8; memory cycles = t(D / B).

Layer cycles = max(compute, memory): DRAM transfers are double-buffered under compute, so the slower of
the two sets the pace. The dataflow chosen is the one with fewer layer cycles, then lower energy (a layer
stalled on DRAM takes the cheaper mapping), then WS.

Other ops run on the array as vector ops, one element operation per PE per cycle:
work = O K (pooling windows), 3 I (softmax: max, exp-sum, scale), I (mean), max(I, O) (adds,
concatenation as a copy, quantize, pad...); cycles = t(work / (R C)); accesses alu = rf = noc = work,
gb = I + O, DRAM as above with W = 0. Views (RESHAPE, SQUEEZE, EXPAND_DIMS) and shape arithmetic (int32
outputs) are free.

Not modelled: GB bank conflicts and bandwidth (the buses feed R + C words per cycle), pipeline control,
layer fusion, sparsity, wider partial-sum words.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from converters.profiling.layers import DTYPE_BYTES, MAC_OPS, Layer
from converters.profiling.report import LayerTime, TargetProfile

ENERGY = {"alu": 1.0, "rf": 1.0, "noc": 2.0, "gb": 6.0, "dram": 200.0}  # Eyeriss ISCA 2016, Table IV
LEVELS = tuple(ENERGY)
PRESETS = {"accel-8x8": (8, 8), "accel-16x16": (16, 16), "accel-32x32": (32, 32)}
FREE_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "SHAPE"}


@dataclass
class AccelConfig:
    """One accelerator: array, buffers, word width, clock, DRAM bus and energy table (module docstring).

    The defaults are Eyeriss's where Eyeriss has one (0.5 kB RF per PE, 200 MHz, 64-bit DRAM bus, the
    Table IV energies); the 128 KiB GB sits in Table IV's 100-500 kB range (Eyeriss has 108 kB).
    """

    rows: int = 16
    cols: int = 16
    gb_kib: float = 128.0
    rf_bytes: int = 512  # per PE (Eyeriss: 0.5 kB)
    word_bits: int = 8
    clock_mhz: float = 200.0  # Eyeriss
    dram_bytes_per_cycle: float = 8.0  # a 64-bit bus at the core clock
    activation_reuse: bool = False  # True: activations that fit half the GB stay on chip between layers
    energy: dict = field(default_factory=lambda: dict(ENERGY))  # per word access, in MAC units

    def __post_init__(self):
        if self.rows < 1 or self.cols < 1:
            raise ValueError(f"the PE array needs at least 1x1 PEs, got {self.rows}x{self.cols}.")
        if self.word_bits not in (8, 16):
            raise ValueError(f"word_bits must be 8 (int8) or 16, got {self.word_bits}.")
        if self.gb_kib <= 0 or self.rf_bytes < 2 * self.word_bits // 8 or self.clock_mhz <= 0 \
                or self.dram_bytes_per_cycle <= 0:
            raise ValueError("gb_kib, clock_mhz and dram_bytes_per_cycle must be positive and the register "
                             "file must hold at least two words.")
        if set(self.energy) != set(ENERGY):
            raise ValueError(f"energy needs exactly the levels {', '.join(LEVELS)}; got {sorted(self.energy)}.")

    @property
    def name(self) -> str:
        return f"accel-{self.rows}x{self.cols}"

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def word_bytes(self) -> int:
        return self.word_bits // 8

    @property
    def gb_words(self) -> int:
        return int(self.gb_kib * 1024) // self.word_bytes

    @property
    def rf_words(self) -> int:
        return self.rf_bytes // self.word_bytes


def preset(name: str, **overrides) -> AccelConfig:
    """``preset("accel-16x16")``: the 16x16 array with the default buffers; keyword arguments override."""
    key = name if name.startswith("accel-") else "accel-" + name
    if key not in PRESETS:
        raise ValueError(f"unknown accelerator {name!r}; presets: {', '.join(PRESETS)} "
                         "(or build AccelConfig(rows=..., cols=...)).")
    rows, cols = PRESETS[key]
    return AccelConfig(rows=rows, cols=cols, **overrides)


@dataclass
class Geometry:
    """A MAC layer as the array sees it (see the module docstring for the letters)."""

    groups: int
    ci: int  # input channels per group
    co: int  # output channels per group
    taps: int  # K = k_h * k_w
    pixels: int  # P, output positions (batch included)

    @property
    def macs(self) -> int:
        return self.groups * self.ci * self.co * self.taps * self.pixels

    @property
    def kernel_words(self) -> int:
        return self.groups * self.ci * self.co * self.taps

    @property
    def outputs(self) -> int:
        return self.groups * self.co * self.pixels

    @classmethod
    def of(cls, layer: Layer) -> "Geometry":
        if layer.op == "FULLY_CONNECTED":
            rows = math.prod(layer.input_shape) // max(layer.in_channels, 1)
            return cls(1, layer.in_channels, layer.out_channels, 1, rows)
        n, ho, wo = layer.output_shape[0], layer.output_shape[1], layer.output_shape[2]
        g = max(layer.groups, 1)
        return cls(g, layer.in_channels // g, layer.out_channels // g, layer.kernel[0] * layer.kernel[1],
                   n * ho * wo)


@dataclass
class Mapping:
    dataflow: str  # "WS", "OS", "vector" or "none"
    compute_cycles: int
    accesses: dict  # words per level (alu counts operations)


@dataclass
class LayerCost:
    compute_cycles: int
    memory_cycles: int
    dataflow: str
    utilization: float
    dram: dict  # words: weights, inputs, outputs
    accesses: dict
    energy: dict  # MAC units per level, and "total"
    ws_cycles: int | None = None
    os_cycles: int | None = None

    @property
    def cycles(self) -> int:
        return max(self.compute_cycles, self.memory_cycles)


def _ceil(a, b) -> int:
    return -(-int(a) // int(b))


def weight_stationary(geo: Geometry, cfg: AccelConfig) -> Mapping:
    """Cycles and on-chip accesses with weights held in the PEs (module docstring, "Weight stationary")."""
    R, C, K, P = cfg.rows, cfg.cols, geo.taps, geo.pixels
    packed = min(R // geo.ci, C // geo.co, geo.groups) if geo.ci <= R and geo.co <= C else 1
    tiles = _ceil(geo.groups, packed) * _ceil(geo.ci, R) * _ceil(geo.co, C)
    cycles = tiles * K * max(P, R) + R * K
    tap_passes = _ceil(K, max(cfg.rf_words // 2, 1))
    psum_passes = _ceil(geo.ci, R) * tap_passes
    m, o, wk = geo.macs, geo.outputs, geo.kernel_words
    input_reads = geo.groups * geo.ci * K * P * _ceil(geo.co, C)
    return Mapping("WS", cycles, {
        "alu": m, "rf": m + wk + 2 * o * _ceil(geo.ci, R) * K, "noc": 2 * m,
        "gb": wk + input_reads + o * (2 * psum_passes - 1), "dram": 0})


def output_stationary(geo: Geometry, cfg: AccelConfig) -> Mapping:
    """Cycles and on-chip accesses with one output accumulating in each PE ("Output stationary")."""
    R, C, K, P = cfg.rows, cfg.cols, geo.taps, geo.pixels
    tiles = geo.groups * _ceil(P, R) * _ceil(geo.co, C)
    cycles = tiles * max(geo.ci * K, R) + R
    m, o, wk = geo.macs, geo.outputs, geo.kernel_words
    input_reads = geo.groups * geo.ci * K * P * _ceil(geo.co, C)
    return Mapping("OS", cycles, {
        "alu": m, "rf": 2 * m + o, "noc": 2 * m + o, "gb": input_reads + wk * _ceil(P, R) + o, "dram": 0})


def vector_op(layer: Layer, cfg: AccelConfig, input_words: int, output_words: int) -> Mapping:
    """A layer without MACs: element operations spread over the PEs, or nothing for views."""
    if layer.op in FREE_OPS or (layer.dtype in ("INT32", "INT64") and layer.op not in MAC_OPS):
        return Mapping("none", 0, dict.fromkeys(LEVELS, 0))
    if layer.op in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        work = output_words * layer.kernel[0] * layer.kernel[1]
    elif layer.op == "SOFTMAX":
        work = 3 * input_words
    elif layer.op == "MEAN":
        work = input_words
    else:
        work = max(input_words, output_words)
    return Mapping("vector", _ceil(work, cfg.pes), {"alu": work, "rf": work, "noc": work,
                                                    "gb": input_words + output_words, "dram": 0})


def dram_traffic(weights: int, inputs: int, outputs: int, gb_words: int) -> dict:
    """Words each operand moves between DRAM and the GB (the module docstring's blocking rule)."""
    if weights + inputs + outputs <= gb_words:
        return {"weights": weights, "inputs": inputs, "outputs": outputs}
    half = max(gb_words // 2, 1)
    keep_inputs = {"weights": max(_ceil(inputs, half), 1) * weights, "inputs": inputs, "outputs": outputs}
    keep_weights = {"weights": weights, "inputs": max(_ceil(weights, half), 1) * inputs, "outputs": outputs}
    return min(keep_inputs, keep_weights, key=lambda d: sum(d.values()))


def _words(layer: Layer) -> tuple[int, int]:
    """Input and output element counts (the table stores bytes at the file's dtypes)."""
    size = DTYPE_BYTES.get(layer.dtype, 4)
    outputs = layer.output_bytes // size
    if layer.op in ("QUANTIZE", "DEQUANTIZE") or layer.op in MAC_OPS:  # one data input, maybe of another dtype
        return (math.prod(layer.input_shape) if layer.input_shape else 0), outputs
    return layer.input_bytes // size, outputs


def layer_cost(layer: Layer, cfg: AccelConfig) -> LayerCost:
    """Cycles, traffic and energy of one layer on ``cfg``, in the better of its mappings."""
    inputs, outputs = _words(layer)
    mac = layer.op in MAC_OPS and layer.macs > 0
    if mac:
        geo = Geometry.of(layer)
        candidates = [weight_stationary(geo, cfg), output_stationary(geo, cfg)]
        weights = layer.weights
    else:
        candidates = [vector_op(layer, cfg, inputs, outputs)]
        weights = 0
    free = candidates[0].dataflow == "none"
    dram = dict.fromkeys(("weights", "inputs", "outputs"), 0) if free else \
        dram_traffic(weights, inputs, outputs, cfg.gb_words)
    if cfg.activation_reuse:
        dram.update({k: 0 for k, n in (("inputs", inputs), ("outputs", outputs)) if n <= cfg.gb_words // 2})
    dram_words = sum(dram.values())
    memory_cycles = _ceil(dram_words * cfg.word_bytes, cfg.dram_bytes_per_cycle) if dram_words else 0

    def cost(mapping: Mapping) -> LayerCost:
        accesses = dict(mapping.accesses, dram=dram_words)
        energy = {k: accesses[k] * cfg.energy[k] for k in LEVELS}
        energy["total"] = sum(energy.values())
        util = layer.macs / (mapping.compute_cycles * cfg.pes) if mac else 0.0
        return LayerCost(mapping.compute_cycles, memory_cycles, mapping.dataflow, util, dram, accesses, energy)

    costs = [cost(m) for m in candidates]
    best = min(costs, key=lambda c: (c.cycles, c.energy["total"]))  # WS first: it wins full ties
    if mac:
        best.ws_cycles, best.os_cycles = candidates[0].compute_cycles, candidates[1].compute_cycles
    return best


def simulate(layers: list[Layer], config: AccelConfig | str | None = None) -> TargetProfile:
    """Run every layer of a ``layers.read`` table on the accelerator ``config`` (or a preset name)."""
    cfg = preset(config) if isinstance(config, str) else (config or AccelConfig())
    rows, costs = [], []
    for layer in layers:
        c = layer_cost(layer, cfg)
        costs.append((layer, c))
        rows.append(LayerTime(layer.index, layer.op, layer.layer, layer.macs, c.cycles / cfg.clock_mhz, extra={
            "cycles": c.cycles, "compute_cycles": c.compute_cycles, "memory_cycles": c.memory_cycles,
            "bound": "memory" if c.memory_cycles > c.compute_cycles else "compute",
            "utilization": c.utilization, "dataflow": c.dataflow, "ws_cycles": c.ws_cycles,
            "os_cycles": c.os_cycles, "dram_bytes": sum(c.dram.values()) * cfg.word_bytes,
            "dram": {k: v * cfg.word_bytes for k, v in c.dram.items()}, "accesses": c.accesses,
            "energy": c.energy}))
    return TargetProfile(cfg.name, "simulated", summarize(costs, cfg), rows, notes=[
        "Analytical PE-array model (converters/profiling/accel.py): per layer the faster of weight- and "
        "output-stationary; cycles = max(compute, DRAM); energy in MAC units from Eyeriss (ISCA 2016) Table IV.",
        "Activations that fit half the GB stay on chip between layers." if cfg.activation_reuse else
        "Layer by layer through DRAM (no on-chip reuse of activations between layers).",
    ])


def summarize(costs: list[tuple[Layer, LayerCost]], cfg: AccelConfig) -> dict:
    macs = sum(l.macs for l, _ in costs)
    cycles = sum(c.cycles for _, c in costs)
    energy = {k: sum(c.energy[k] for _, c in costs) for k in LEVELS}
    total_energy = sum(energy.values())
    dataflow_macs: dict = {}
    for layer, c in costs:
        if layer.macs:
            dataflow_macs[c.dataflow] = dataflow_macs.get(c.dataflow, 0) + layer.macs
    config = asdict(cfg)
    return {
        **{k: config[k] for k in ("rows", "cols", "gb_kib", "rf_bytes", "word_bits", "clock_mhz",
                                  "dram_bytes_per_cycle", "activation_reuse")},
        "energy_table": config["energy"],
        "macs": macs,
        "cycles": cycles,
        "compute_cycles": sum(c.compute_cycles for _, c in costs),
        "memory_cycles": sum(c.memory_cycles for _, c in costs),
        "memory_bound_layers": sum(c.memory_cycles > c.compute_cycles for _, c in costs),
        "time_ms": cycles / cfg.clock_mhz / 1000.0,
        "energy_total": total_energy,
        "energy": energy,
        "energy_per_mac": total_energy / macs if macs else 0.0,
        # MAC-weighted mean of the per-layer utilization, and the whole run's (stalls included).
        "utilization": sum(l.macs * c.utilization for l, c in costs) / macs if macs else 0.0,
        "effective_utilization": macs / (cycles * cfg.pes) if cycles else 0.0,
        "dram_bytes": sum(sum(c.dram.values()) for _, c in costs) * cfg.word_bytes,
        "dataflow_macs": dataflow_macs,
        "dataflow": max(dataflow_macs, key=dataflow_macs.get) if dataflow_macs else "none",
    }
