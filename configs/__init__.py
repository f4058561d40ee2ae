"""The suite's settings, shipped as package data of ``brainlike_suite.configs`` (this folder):
``suite.yaml`` (the default command-line settings) and ``profiles/*.yaml`` (smoke, quick,
standard, paper). Located with :func:`suite.config.config_dir`.
"""
