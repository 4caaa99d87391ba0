"""Hospital EHR over FHIR R4: a careful client (client.py), a draft case pulled from it (pull.py), and sending a
case to a FHIR server (push.py). Core: never imports Flask or Click."""
