"""CDS Hooks 2.0 service for HER2-altered advanced non-small-cell lung cancer.

Entry points: ``cds_service.app.create_app`` (the application factory),
``python -m cds_service serve`` (development server) and ``cds_service.wsgi``
(gunicorn).
"""
