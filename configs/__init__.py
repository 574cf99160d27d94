"""keras_fwi's presets as data: dataset constants (``datasets/*.yaml``) and experiments
(``experiments/*.yaml``). Installed as ``keras_fwi.configs`` (``package_dir`` in setup.cfg, as
``export/`` is); read with ``importlib.resources.files("keras_fwi.configs")``, never from the
working directory."""
