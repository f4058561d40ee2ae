"""The suite's built-in methods, the package ``brainlike_suite.methods`` (this folder).

It is a plugin package like any third-party one: the project's entry point of the group
``brainlike_suite.methods`` names it, and importing it imports every family below (one module or
package per family; names starting with ``_`` skipped), whose ``@register`` decorators register
the methods. Math shared by several families lives beside them: :mod:`.distributions`.

Families: :mod:`.amortized_vae` (pvae, cvae, gvae, gvae_relu, lvae), :mod:`.iterative_vae`
(ipvae, igvae, igvae_relu), :mod:`.sparse_coding` (lca, ista, fista), :mod:`.helmholtz` (bihm).
Each family folder holds its settings per profile in ``config.yaml``.
"""
from suite.registry import import_plugin_modules

import_plugin_modules(__name__, __path__, "methods")
