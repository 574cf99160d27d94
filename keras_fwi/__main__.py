"""``python -m keras_fwi`` runs the command-line interface."""

from keras_fwi.cli import main

raise SystemExit(main())
