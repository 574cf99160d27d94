"""Default settings of ``keras_fwi refine`` / ``keras_fwi.physics.refine``, chosen by measurement
(benchmarks/RESULTS.md, "Physics refinement"). No TensorFlow here: the CLI parser shows them."""

REFINE_DEFAULTS = {
    "iterations": (20, 30, 30, 20, 60),  # per stage (full band 40 -> 60 with precondition: 102.5 -> 97.0 m/s)
    "method": "lbfgs",  # one L-BFGS-B per model; beat Adam at equal iterations from smoothed starts (RESULTS.md)
    "learning_rate": 20.0,  # m/s, Adam's largest step per cell (method="adam" only)
    "lbfgs_memory": 20,  # L-BFGS-B's curvature pairs (SciPy's maxcor 10 -> 20: 139.8 -> 138.3 m/s, RESULTS.md)
    "tv": 0.1,  # one weight, or one per stage (none in the block stage: better on 4 maps of 6, far worse on one)
    "lateral_smoothness": 10.0,  # weight of the mean squared lateral velocity change (RESULTS.md: 141.5 -> 135.2 m/s)
    "lateral": 1.0,  # weight of lateral against vertical differences in TV (1: isotropic)
    "frequencies": (4.0, 8.0, 15.0, 15.0, None),  # Hz low-pass cutoffs, None: full band; low first avoids cycle skips
    "time_gain": 0.0,  # power p of the residual's time gain (t / T)^p; 0: none
    "windows": None,  # per stage, fit only the first this many s of each trace (None: whole trace)
    "correct_every": 10,  # coarse stages: re-anchor to the full grid every this many iterations (RESULTS.md)
    "precondition": 0.5,  # power of L-BFGS-B's depth-row units (0: none; RESULTS.md)
    "blocks": (0, 0, 0, 8, 0),  # per stage: 0 every cell free, K: one velocity per region of K levels
    "grid_factors": (4, 2, 2, 2, 1),  # per stage: simulate on a 4x / 2x coarser grid (cheaper), then the survey's
}
