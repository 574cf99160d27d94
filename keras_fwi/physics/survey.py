"""``Survey``: an immutable description of a 2-D acoustic acquisition, in field units.

Positions are grid indices (cells) into the velocity model ``(nz, nx)``; depth is axis 0. Every
shot records at the same receivers, as in OpenFWI and FCNVMB.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings

import numpy as np

from keras_fwi._validation import one_of, positive_int

__all__ = ["ABSORBING", "CFL_LIMIT", "MIN_POINTS_PER_WAVELENGTH", "Survey", "ricker"]

# Absorbing layers ``simulate`` implements, each with its default width in cells: a convolutional PML
# (12 cells reproduce a 120-cell PML's data to 0.1-0.6 % RMS, benchmarks/RESULTS.md), and OpenFWI's
# quadratic damping layer at OpenFWI's 120 cells.
ABSORBING = {"cpml": 12, "damping": 120}

# Leapfrog in time with the 4th-order Laplacian (weights -5/2, 4/3, -1/12) in 2-D is stable while
# (v dt / dx)^2 * 32/3 <= 4: the stencil's largest eigenvalue is 2 * (5/2 + 8/3 + 1/6) = 32/3.
CFL_LIMIT = math.sqrt(3.0 / 8.0)
# Fewer grid points than this per wavelength, at the slowest velocity and the Ricker peak
# frequency, and the 4th-order scheme's numerical dispersion becomes visible in the data.
MIN_POINTS_PER_WAVELENGTH = 5.0


def ricker(frequency: float, dt: float, nt: int) -> np.ndarray:
    """OpenFWI's Ricker wavelet, zero-padded (or cut) to ``nt`` samples, float64, shape (nt,).

    The wavelet has ``2 * floor(1.1 / (frequency * dt)) + 1`` samples and starts at t = 0, so its peak
    is at sample ``floor(1.1 / (frequency * dt))``.
    """
    half = math.floor(1.1 / (frequency * dt))
    lag = np.arange(-half, half + 1, dtype=np.float64) * dt
    arg = (math.pi * frequency * lag) ** 2
    wavelet = (1.0 - 2.0 * arg) * np.exp(-arg)
    out = np.zeros(nt, dtype=np.float64)
    length = min(nt, wavelet.size)
    out[:length] = wavelet[:length]
    return out


def _positive_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _cells(name: str, value, size: int, axis: str) -> tuple[int, ...]:
    """Return ``value`` (int or sequence of ints) as a tuple of cell indices inside ``range(size)``."""
    array = np.atleast_1d(np.asarray(value))
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a cell index or a non-empty 1-D sequence of them, got {value!r}")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or not np.all(array == np.round(array)):
            raise ValueError(f"{name} must hold integer grid indices (cells), got {value!r}")
        array = array.astype(np.int64)
    outside = array[(array < 0) | (array >= size)]
    if outside.size:
        raise ValueError(f"{name} has positions outside the grid: {outside.tolist()} (valid {axis} "
                         f"cells are 0..{size - 1})")
    return tuple(int(item) for item in array)


@dataclasses.dataclass(frozen=True)
class Survey:
    """Acquisition geometry and time sampling for ``simulate``.

    Args:
        nz, nx: int, model size in cells (depth, lateral).
        dx: float, grid spacing in m (both axes).
        nt: int, number of time samples recorded.
        dt: float, time step in s (the simulation step and the sampling interval).
        frequency: float, Ricker peak frequency in Hz.
        source_z, source_x: source cells; one per shot. A scalar ``source_z`` is a depth shared by
            all shots.
        receiver_z, receiver_x: receiver cells, the same for every shot. A scalar ``receiver_z`` is a
            depth shared by all receivers.
        boundary: int or None, absorbing layer width in cells added on every side; None takes the
            absorbing layer's default (``ABSORBING``: 12 for "cpml", 120 for "damping").
        absorbing: str, ``"cpml"`` (default: a convolutional PML, the cheap and accurate choice) or
            ``"damping"`` (OpenFWI's own quadratic damping layer, to reproduce OpenFWI's data bit for
            bit, residual reflections included).
        free_surface: bool, pressure-free top edge (row 0) instead of an absorbing top layer.
        velocity_range: (min, max) velocity in m/s the survey must handle; the max sets the
            stability (CFL) check, the min the points-per-wavelength warning.

    Raises:
        ValueError: non-positive sizes, positions outside the grid, mismatched position lengths, or
            ``velocity_range[1] * dt / dx`` above ``CFL_LIMIT`` (the message gives the largest stable dt).

    Warns:
        UserWarning: fewer than ``MIN_POINTS_PER_WAVELENGTH`` cells per wavelength at the slowest
            velocity and the peak frequency.

    Example:
        >>> survey = Survey.openfwi()
        >>> survey.shots, survey.receivers
        (5, 70)
        >>> survey.absorbing, survey.boundary
        ('cpml', 12)
        >>> openfwi_exact = Survey.openfwi(absorbing="damping")   # 120 cells
    """

    nz: int
    nx: int
    dx: float
    nt: int
    dt: float
    frequency: float
    source_z: tuple
    source_x: tuple
    receiver_z: tuple
    receiver_x: tuple
    boundary: int | None = None
    absorbing: str = "cpml"
    free_surface: bool = False
    velocity_range: tuple = (1500.0, 4500.0)

    def __post_init__(self):
        set_field = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        for name in ("nz", "nx", "nt"):
            set_field(name, positive_int(name, getattr(self, name)))
        one_of("absorbing", self.absorbing, tuple(ABSORBING))
        if self.boundary is None:
            set_field("boundary", ABSORBING[self.absorbing])
        set_field("boundary", positive_int("boundary", self.boundary))
        if self.boundary < 3:
            raise ValueError(f"boundary must be at least 3 cells (the stencil reaches 2), got {self.boundary}")
        for name in ("dx", "dt", "frequency"):
            set_field(name, _positive_float(name, getattr(self, name)))
        set_field("free_surface", bool(self.free_surface))
        self._set_positions(set_field)
        self._check_velocity_range(set_field)

    def _set_positions(self, set_field) -> None:
        source_x = _cells("source_x", self.source_x, self.nx, "x")
        source_z = _cells("source_z", self.source_z, self.nz, "z")
        receiver_x = _cells("receiver_x", self.receiver_x, self.nx, "x")
        receiver_z = _cells("receiver_z", self.receiver_z, self.nz, "z")
        if len(source_z) == 1:
            source_z = source_z * len(source_x)
        if len(receiver_z) == 1:
            receiver_z = receiver_z * len(receiver_x)
        if len(source_z) != len(source_x):
            raise ValueError(f"source_z has {len(source_z)} entries but source_x has {len(source_x)}; "
                             "give one depth per source or a single shared depth")
        if len(receiver_z) != len(receiver_x):
            raise ValueError(f"receiver_z has {len(receiver_z)} entries but receiver_x has "
                             f"{len(receiver_x)}; give one depth per receiver or a single shared depth")
        for name, value in (("source_x", source_x), ("source_z", source_z),
                            ("receiver_x", receiver_x), ("receiver_z", receiver_z)):
            set_field(name, value)

    def _check_velocity_range(self, set_field) -> None:
        try:
            v_min, v_max = (float(item) for item in self.velocity_range)
        except (TypeError, ValueError):
            raise ValueError(f"velocity_range must be (min, max) in m/s, got {self.velocity_range!r}") from None
        if not 0 < v_min <= v_max:
            raise ValueError(f"velocity_range must satisfy 0 < min <= max (m/s), got {self.velocity_range!r}")
        set_field("velocity_range", (v_min, v_max))
        self.check_stability(v_max)
        points = v_min / (self.frequency * self.dx)
        if points < MIN_POINTS_PER_WAVELENGTH:
            warnings.warn(
                f"only {points:.2f} grid points per wavelength (slowest velocity {v_min:g} m/s, "
                f"{self.frequency:g} Hz, dx {self.dx:g} m); the data will show numerical dispersion. "
                f"Use dx <= {v_min / (self.frequency * MIN_POINTS_PER_WAVELENGTH):.3g} m or a lower frequency",
                UserWarning, stacklevel=4)

    def check_stability(self, max_velocity: float) -> None:
        """Raise ``ValueError`` if ``max_velocity`` (m/s) makes the time stepping unstable."""
        courant = float(max_velocity) * self.dt / self.dx
        if courant > CFL_LIMIT:
            raise ValueError(
                f"unstable time step (CFL): max velocity {float(max_velocity):g} m/s * dt {self.dt:g} s "
                f"/ dx {self.dx:g} m = {courant:.4f} exceeds the 4th-order scheme's limit "
                f"{CFL_LIMIT:.4f}; use dt <= {self.max_stable_dt(max_velocity):.6g} s, a larger dx "
                f"or a lower max velocity")

    def max_stable_dt(self, max_velocity: float | None = None) -> float:
        """Largest stable time step in s for ``max_velocity`` (default: ``velocity_range[1]``)."""
        v_max = self.velocity_range[1] if max_velocity is None else float(max_velocity)
        return CFL_LIMIT * self.dx / v_max

    @property
    def shots(self) -> int:
        """Number of shots (sources)."""
        return len(self.source_x)

    @property
    def receivers(self) -> int:
        """Number of receivers per shot."""
        return len(self.receiver_x)

    def wavelet(self) -> np.ndarray:
        """Source time function: OpenFWI's Ricker at ``frequency``, starting at t = 0, shape (nt,) float64."""
        return ricker(self.frequency, self.dt, self.nt)

    def replace(self, **changes) -> "Survey":
        """A copy with some fields changed (validated again), e.g. ``survey.replace(boundary=40)``.
        A new ``absorbing`` without a ``boundary`` takes that layer's default width."""
        if "absorbing" in changes and "boundary" not in changes:
            changes["boundary"] = None
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The fields as JSON-ready Python types."""
        fields = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            fields[field.name] = list(value) if isinstance(value, tuple) else value
        return fields

    @classmethod
    def from_dict(cls, fields: dict) -> "Survey":
        """Inverse of ``to_dict``; unknown keys raise ``TypeError`` naming them. Fields written before
        ``absorbing`` existed describe OpenFWI's damping layer, and are read as such."""
        return cls(**{"absorbing": "damping", **fields})

    @classmethod
    def openfwi(cls, **changes) -> "Survey":
        """OpenFWI's survey: 70 x 70 cells of 10 m, 1000 samples of 1 ms, 15 Hz Ricker, 5 sources at
        cells 0, 17, 34, 52, 69 and 70 receivers, all at 10 m depth (cell 1), with a 12-cell CPML.
        ``Survey.openfwi(absorbing="damping")`` is OpenFWI's own 120-cell damping layer, bit for bit."""
        from keras_fwi.data.presets import get_preset  # the dataset's constants, defined once

        fields = get_preset("flatvel-a").survey_fields()
        del fields["absorbing"], fields["boundary"]  # OpenFWI made its data with these; ours: a CPML
        fields.update(changes)
        return cls(**fields)

    @classmethod
    def fcnvmb(cls, **changes) -> "Survey":
        """FCNVMB's setting: 201 x 301 cells of 10 m, 2000 samples of 1 ms (the network sees them
        decimated by 5), 25 Hz Ricker, 29 sources evenly across the surface, 301 receivers, sources
        and receivers at cell depth 1 (as OpenFWI), with a 12-cell CPML."""
        fields = dict(nz=201, nx=301, dx=10.0, nt=2000, dt=1e-3, frequency=25.0,
                      source_z=1, source_x=tuple(np.around(np.linspace(0, 300, 29)).astype(int)),
                      receiver_z=1, receiver_x=tuple(range(301)))
        fields.update(changes)
        return cls(**fields)
