"""The prediction service: one FastAPI application, a package per API version.

``core`` holds what every version shares (model runtime, request limits, errors, events,
metrics); ``v1`` and ``v2`` hold each version's request and response models, preprocessing
adapter and routes. ``api.build_service`` assembles the routes of the versions a deployment
enables; ``lambda_api`` serves them from API Gateway events (the Lambda handler) and
``app.create_app`` under FastAPI (``server.serve``, uvicorn).
"""

from propensity.service.plugin_discovery import skip_plugin_discovery

# Before any of the service's models is built (the prediction function disables plugins).
skip_plugin_discovery()
