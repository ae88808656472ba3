"""The service's side of the SMART app (the HER2 journey, ``smart_app/``).

- ``links``: the ``smart`` link on sequencing, ILD and cardiac cards (its launch URL
  comes from the settings, never from a request's Host header).
- ``views``: the app's static files at ``/smart/`` under a strict Content-Security-Policy,
  and ``POST /smart/patient-model``, which maps a Bundle of one patient's resources to the
  patient model with sources (what ``python -m fhir_mappings explain`` prints). Nothing is
  stored; nothing of the record or the token is logged.
- ``tokens``: in the production profile, the app's SMART access token is checked by
  reading ``Patient/{id}`` with it from an allowlisted FHIR server (``CDS_SMART_ISSUERS``).

The contract with the app (paths, headers, response shape) is in the README's section
"SMART app: the HER2 journey", "Registration, and what the service does for it".
"""
