"""Layer 1, ingest: agency drop folders to the `raw` schema and the ledger (`meta`).

Finds the files, checks each container before a parser opens it, reads the
register sheets (personal columns dropped, personal values masked), archives
every file by its hash and records what became of it. Dagster face:
pipeline/assets/ingest.py.
"""
