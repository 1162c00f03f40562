"""Usage statistics: access events as they happen, and the report over them.

events.py  access events: buffered, written in batches, rolled up at write time (+ SQL)
report.py  GET /stats over the rollups (+ SQL)
"""
