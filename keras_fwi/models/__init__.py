"""Network builders: each returns a plain functional ``keras.Model``.

>>> import keras_fwi
>>> model = keras_fwi.models.inversionnet()          # OpenFWI's InversionNet
>>> model = keras_fwi.models.fcnvmb(shots=29)          # FCNVMB's U-Net, SEG setting
>>> model = keras_fwi.models.build("inversionnet", widths=(8, 16, 32, 64, 128))
"""

from __future__ import annotations

from keras_fwi.models.fcnvmb import fcnvmb
from keras_fwi.models.inversionnet import inversionnet

ARCHITECTURES = {
    "inversionnet": inversionnet,
    "fcnvmb": fcnvmb,
}

__all__ = ["ARCHITECTURES", "build", "fcnvmb", "inversionnet"]


def build(arch: str, **kwargs):
    """Build architecture ``arch`` (a key of ``ARCHITECTURES``) with the builder's keyword arguments."""
    try:
        builder = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}") from None
    return builder(**kwargs)
