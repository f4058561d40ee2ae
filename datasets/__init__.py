"""The suite's built-in datasets, the package ``brainlike_suite.datasets`` (this folder).

A plugin package like any third-party one: the project's entry point of the group
``brainlike_suite.datasets`` names it, and importing it imports every module below (names
starting with ``_`` skipped), whose ``@register_dataset`` decorators register the sources.
"""
from suite.registry import import_plugin_modules

import_plugin_modules(__name__, __path__, "datasets")
