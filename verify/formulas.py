"""Closed forms: output sizes, receptive field and jump, weights/biases/params/bytes, MACs.

Plain integer arithmetic, as DESIGN.md defines each figure. These are the formulas a
student writes down; the numpy reference (verify.numeric) and the SymPy derivations
(verify.symbolic) check them independently.

Sources: output sizes follow the PyTorch docs (Conv2d, MaxPool2d, AvgPool2d,
ConvTranspose2d); receptive field and jump follow Araujo, Norris & Sim, "Computing
Receptive Fields of Convolutional Neural Networks", Distill 2019; transposed-convolution
arithmetic follows Dumoulin & Visin, "A guide to convolution arithmetic", 2016.
"""

from __future__ import annotations

from verify.specs import Conv, Dense, Flatten, NetSummary, Pointwise, Pool, SpecError

__all__ = [
    "conv_output_size",
    "convtranspose_output_size",
    "dilated_kernel",
    "pool_output_size",
    "receptive_field",
    "summarize",
]


def dilated_kernel(k: int, d: int = 1) -> int:
    """Extent of a kernel of size k with dilation d: d(k - 1) + 1."""
    return d * (k - 1) + 1


def conv_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """floor((n + 2p - d(k-1) - 1) / s) + 1  (PyTorch Conv2d)."""
    return (n + 2 * p - dilated_kernel(k, d)) // s + 1


def pool_output_size(n: int, k: int, s: int, p: int = 0, d: int = 1,
                     ceil_mode: bool = False) -> int:
    """As conv, with ceil instead of floor when ceil_mode; a last window that would
    start in the right padding is dropped (PyTorch MaxPool2d/AvgPool2d)."""
    span = n + 2 * p - dilated_kernel(k, d)
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= n + p:
        out -= 1
    return out


def convtranspose_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1,
                              output_padding: int = 0) -> int:
    """(n - 1)s - 2p + d(k - 1) + output_padding + 1  (PyTorch ConvTranspose2d)."""
    return (n - 1) * s - 2 * p + dilated_kernel(k, d) + output_padding


def receptive_field(kernels: list[int], strides: list[int],
                    dilations: list[int] | None = None) -> tuple[int, int]:
    """(r_0, jump) of a stack along one axis:
    r_0 = 1 + sum_l (k_l - 1) prod_{i<l} s_i with k_l the dilated kernel; jump = prod s_l."""
    dilations = dilations or [1] * len(kernels)
    r, jump = 1, 1
    for k, s, d in zip(kernels, strides, dilations, strict=True):
        r += (dilated_kernel(k, d) - 1) * jump
        jump *= s
    return r, jump


def _geometry_error(where: str, layer: Conv | Pool, n: int, axis: int) -> SpecError:
    k, p, d = layer.kernel[axis], layer.padding[axis], layer.dilation[axis]
    dilated = f" (dilated to {dilated_kernel(k, d)})" if d > 1 else ""
    return SpecError(f"{where}.kernel", k,
                     f"{dilated} must fit in the padded input along {'HW'[axis]}: "
                     f"{n} + 2*{p} = {n + 2 * p} at this layer".lstrip())


def _window_in_padding(n: int, k: int, s: int, p: int, d: int, out: int) -> bool:
    """True when some pooling window's taps all fall outside the input (possible only
    with dilation: max pooling would then return -inf). Only windows that start in the
    left padding can miss the input, so only those are enumerated."""
    for o in range(out):
        start = o * s - p
        if start >= 0:
            return False
        if not any(0 <= start + j * d < n for j in range(k)):
            return True
    return False


def summarize(spec: NetSummary) -> dict:
    """The ``net-summary`` answer (DESIGN.md) from closed forms alone.

    Walks the stack once, checking each layer against the shape it receives, and
    returns plain ints: ``{"layers": [...], "output": [...], "total": {...}}``.
    """
    shape = tuple(spec.input)
    rf: tuple[int, int] | None = (1, 1) if len(shape) == 3 else None
    jump: tuple[int, int] | None = (1, 1) if len(shape) == 3 else None
    rows = []
    for i, layer in enumerate(spec.layers):
        where = f"layers[{i}]"
        weights = biases = macs = 0
        if isinstance(layer, (Conv, Pool)):
            if len(shape) != 3:
                raise SpecError(f"{where}.type", layer.type,
                                "needs an [H, W, C] input, but the stack is flat here")
            h_w = shape[:2]
            out_hw = []
            for axis in range(2):
                n = h_w[axis]
                k, s, p, d = (layer.kernel[axis], layer.stride[axis], layer.padding[axis],
                              layer.dilation[axis])
                if isinstance(layer, Conv) and layer.transposed:
                    size = convtranspose_output_size(n, k, s, p, d, layer.output_padding[axis])
                    if size < 1:
                        raise SpecError(f"{where}.padding", list(layer.padding),
                                        f"leaves an output of size {size} along "
                                        f"{'HW'[axis]}; sizes must be >= 1")
                else:
                    if dilated_kernel(k, d) > n + 2 * p:
                        raise _geometry_error(where, layer, n, axis)
                    if isinstance(layer, Pool):
                        size = pool_output_size(n, k, s, p, d, layer.ceil_mode)
                        if _window_in_padding(n, k, s, p, d, size):
                            raise SpecError(f"{where}.dilation", list(layer.dilation),
                                            "leaves a pooling window that reads only padding "
                                            f"along {'HW'[axis]} (input {n}, padding {p})")
                    else:
                        size = conv_output_size(n, k, s, p, d)
                out_hw.append(size)
            c_in = shape[2]
            if isinstance(layer, Conv):
                kh, kw = layer.kernel
                c_out = layer.filters
                weights = kh * kw * c_in * c_out
                biases = c_out if layer.bias else 0
                if layer.transposed:
                    macs = h_w[0] * h_w[1] * c_in * kh * kw * c_out
                else:
                    macs = out_hw[0] * out_hw[1] * c_out * kh * kw * c_in
            else:
                c_out = c_in
            if isinstance(layer, Conv) and layer.transposed:
                # The field of one output of a transposed convolution depends on its
                # position (some taps fall between inputs), so no single figure exists.
                rf = jump = None
            elif rf is not None and jump is not None:
                rf = tuple(rf[a] + (dilated_kernel(layer.kernel[a], layer.dilation[a]) - 1)
                           * jump[a] for a in range(2))
                jump = tuple(jump[a] * layer.stride[a] for a in range(2))
            shape = (out_hw[0], out_hw[1], c_out)
        elif isinstance(layer, Pointwise):
            pass
        elif isinstance(layer, Flatten):
            n = 1
            for v in shape:
                n *= v
            shape = (n,)
            rf = jump = None
        elif isinstance(layer, Dense):
            if len(shape) != 1:
                raise SpecError(f"{where}.type", "dense",
                                f"needs a flat input, but receives {list(shape)}: "
                                "put a flatten layer before it")
            weights = shape[0] * layer.units
            biases = layer.units if layer.bias else 0
            macs = shape[0] * layer.units
            shape = (layer.units,)
            rf = jump = None
        params = weights + biases
        rows.append({
            "type": layer.type,
            "output": list(shape),
            "weights": weights,
            "biases": biases,
            "params": params,
            "bytes": params * spec.dtype_bytes,
            "macs": macs,
            "receptive_field": list(rf) if rf is not None else None,
            "jump": list(jump) if jump is not None else None,
        })
    total = {key: sum(row[key] for row in rows)
             for key in ("weights", "biases", "params", "bytes", "macs")}
    return {"layers": rows, "output": list(shape), "total": total}
