"""keras_fwi: data-driven seismic full-waveform inversion with Keras 3 / TensorFlow."""

__version__ = "0.1.0"
