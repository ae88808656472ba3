"""CDS Hooks 2.0 service for HER2-altered advanced non-small-cell lung cancer."""

from cds_service.app import create_app

__all__ = ["create_app"]
