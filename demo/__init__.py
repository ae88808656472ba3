"""Demo environment: synthetic patients, a local FHIR server, the service, a feedback report.

Not part of the product (``cds_service``, ``fhir_mappings``): development and demo tools,
run from the repository (``make demo``, ``python -m demo.report``).
"""
