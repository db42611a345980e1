"""The web console (CONSOLE.md): server-rendered pages at /console for the people who run
an ingestion. It reads and writes through the same store and core as the API, never
through the API's routes; `app.create_console` builds it, `api/app.py` mounts it.
"""
