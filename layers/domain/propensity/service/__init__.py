"""The prediction service: one FastAPI application, a package per API version.

``core`` holds what every version shares (model runtime, request limits, errors, events,
metrics); ``v1`` and ``v2`` hold each version's request and response models, preprocessing
adapter and routes. ``app.create_app`` assembles the versions a deployment enables; the
Lambda handler wraps it with Mangum and ``server.serve`` runs it under uvicorn.
"""
