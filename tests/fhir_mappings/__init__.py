"""Tests of the FHIR R4 to patient model mapping (fhir_mappings)."""
