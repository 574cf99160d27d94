"""Training: configuration, losses, schedules, callbacks, metrics and the trainer behind `keras_fwi train`."""
