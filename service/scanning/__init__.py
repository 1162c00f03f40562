"""Malware scanning: the engines and the worker that asks them.

engines.py  the Scanner seam and its engines: clamd, GuardDuty's tag, none (`SILO_SCAN`)
worker.py   ScanWorker: claims pending files, asks the engine, quarantines, records verdicts
sql.py      the scan's columns of `files` and `file_scan_events`
"""
