"""Default settings of ``keras_fwi refine`` / ``keras_fwi.physics.refine``, chosen by measurement
(benchmarks/RESULTS.md, "Physics refinement"). No TensorFlow here: the CLI parser shows them."""

REFINE_DEFAULTS = {
    "iterations": 40,
    "method": "lbfgs",  # beat Adam at equal iterations from smoothed starts (RESULTS.md)
    "learning_rate": 20.0,  # m/s, Adam's largest step per cell (method="adam" only)
    "tv": 0.1,
    "frequencies": (None,),
    "grid_factors": None,  # one per stage, None: every stage on the survey's grid
}
