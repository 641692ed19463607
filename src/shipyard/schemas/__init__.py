"""The HTTP API's request and response models, shared by the server and the CLI.

``server/`` takes its request bodies and answers in these types (FastAPI draws the OpenAPI
document from them); ``cli/`` decodes the answers it reads fields of with the same models,
importing them inside its command functions so the CLI starts without loading pydantic.
One module per area: ``common`` (names, limits, the error shape), ``deployments``,
``identity``, ``secrets``, ``delivery``, ``observe``, ``data`` (jobs, backups, migrations,
drills). Imports only ``errors`` and ``core``.
"""
