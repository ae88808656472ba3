"""``python -m fhir_mappings explain FILE [--as-of YYYY-MM-DD]``."""

from fhir_mappings.explain import main

raise SystemExit(main())
