"""How close the CPML's data are to OpenFWI's (120-cell damping) and to deepwave's 120-cell PML.

For each family and CPML width, relative RMS differences over the family's models (and the worst
single model): keras_fwi's CPML against keras_fwi's 120-cell damping layer (OpenFWI's data, bit for
bit) and against deepwave with a 120-cell PML (an independent simulator; benchmarks/holdout.py's
runner, in OpenFWI's sign and time convention). The damping layer itself is also compared with
deepwave, which shows how much of the difference is the damping layer's own reflections.

    python benchmarks/bench_fidelity.py --families flatvel-a curvevel-a flatfault-a curvefault-a salt \
        --widths 8 10 12 16 20 --models 6
"""

from __future__ import annotations

import argparse

import numpy as np
from holdout import deepwave_seismic


def _relative(ours: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(over all models, worst model) relative RMS difference."""
    per_model = np.sqrt(np.sum((ours - reference) ** 2, axis=(1, 2, 3)) / np.sum(reference ** 2, axis=(1, 2, 3)))
    return float(np.linalg.norm(ours - reference) / np.linalg.norm(reference)), float(per_model.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=["flatvel-a", "curvevel-a", "flatfault-a", "curvefault-a",
                                                          "salt"])
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 12, 20])
    parser.add_argument("--models", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from keras_fwi.physics import Survey, simulate
    from keras_fwi.physics.families import velocity_models

    print("family        case             vs OpenFWI damping 120 (all / worst)   vs deepwave PML 120 (all / worst)")
    for family in args.families:
        velocity = velocity_models(family, args.models, seed=args.seed)
        damping = simulate(velocity, Survey.openfwi(absorbing="damping")).numpy()
        deepwave = deepwave_seismic(velocity)
        print(f"{family:13s} damping 120      {'-':>16s}                       "
              "{:.4f} / {:.4f}".format(*_relative(damping, deepwave)))
        for width in args.widths:
            data = simulate(velocity, Survey.openfwi(boundary=width)).numpy()
            print(f"{family:13s} CPML {width:3d}         {_relative(data, damping)[0]:.4f} / {_relative(data, damping)[1]:.4f}"
                  f"                       {_relative(data, deepwave)[0]:.4f} / {_relative(data, deepwave)[1]:.4f}",
                  flush=True)


if __name__ == "__main__":
    main()
