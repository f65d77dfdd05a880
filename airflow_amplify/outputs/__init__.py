"""The native ``amplify_outputs.json`` engine: pure functions over what a hook read; no AWS, no Airflow.

- :mod:`~airflow_amplify.outputs.mapping`: stack metadata and outputs -> backend output -> the file
- :mod:`~airflow_amplify.outputs.versions`: schema versions, formats, file names
- :mod:`~airflow_amplify.outputs.errors`: the CLI's errors, by the same names
- :mod:`~airflow_amplify.outputs.model_introspection`: the GraphQL model schema -> model introspection
- :mod:`~airflow_amplify.outputs.jscompat`: JavaScript-exact JSON and lodash's ``mergeWith``
- :mod:`~airflow_amplify.outputs.pluralize`: the ``pluralize`` package's English plurals
"""

from __future__ import annotations

from airflow_amplify.outputs.errors import AmplifyOutputsError, NativeOutputsUnsupportedError
from airflow_amplify.outputs.mapping import build_outputs, generate_outputs, render_outputs
from airflow_amplify.outputs.versions import NATIVE_OUTPUTS_VERSIONS, OUTPUTS_VERSIONS

__all__ = [
    "NATIVE_OUTPUTS_VERSIONS",
    "OUTPUTS_VERSIONS",
    "AmplifyOutputsError",
    "NativeOutputsUnsupportedError",
    "build_outputs",
    "generate_outputs",
    "render_outputs",
]
