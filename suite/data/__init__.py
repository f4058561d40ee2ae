"""The data pipeline: sources and loaded datasets (``sources``), loading by name (``loading``),
file formats (``datafiles``), file-backed sources and their layouts (``filesource``), downloads
(``download``), the patch recipes (``preprocess``) and their builds (``patchbuild``), and the
``prepare`` command's engine (``prepare``).

A dataset plugin needs only the names re-exported here.
"""
from ..capabilities import DataKind
from .sources import (CACHE_DIR_ENV, DATA_DIR_ENV, Availability, Dataset, DatasetSource,
                      read_array_cache, resolve_cache_dir, resolve_data_dir, write_array_cache)

__all__ = ["CACHE_DIR_ENV", "DATA_DIR_ENV", "Availability", "DataKind", "Dataset", "DatasetSource",
           "read_array_cache", "resolve_cache_dir", "resolve_data_dir", "write_array_cache"]
