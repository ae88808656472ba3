"""FHIR R4 resources to the patient model that the clinical rules read."""
