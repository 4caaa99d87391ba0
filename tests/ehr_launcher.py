"""Start the sekmet-fhir test server (a real FHIR R4 server: FastAPI + SQLite) on loopback, for the EHR tests.

Run as `python -m tests.ehr_launcher CONFIG.yaml`. sekmet's search-parameter table has no AdverseEvent entry,
so this launcher adds R4's AdverseEvent parameters (subject, patient, date, seriousness, substance) before the app
starts: the push tests search the stored AdverseEvents.
"""

from __future__ import annotations

import sys


def extend_search_parameters() -> None:
    from sekmet.fhir import search_params as sp

    if "AdverseEvent" in sp.PARAMS:
        return
    params = {
        "subject": sp.SearchParam("subject", "reference", ("subject",)),
        "patient": sp.SearchParam("patient", "reference", ("subject",), "Patient"),
        "date": sp.SearchParam("date", "date", ("date",)),
        "seriousness": sp.SearchParam("seriousness", "token", ("seriousness",)),
        "actuality": sp.SearchParam("actuality", "token", ("actuality",)),
        "substance": sp.SearchParam("substance", "reference", ("suspectEntity.instance",)),
    }
    sp.PARAMS["AdverseEvent"] = params


def main(config: str) -> None:
    import uvicorn
    from sekmet.config import load_settings
    from sekmet.main import create_app

    extend_search_parameters()
    settings = load_settings(config)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1])
