"""HTTP plumbing under every route: the server, admission of upload streams, input reading.

server.py     uvicorn's configuration and the guarded protocol (header caps, deadlines)
admission.py  the cap on concurrent upload streams, from the memory this instance has
inputs.py     JSON bodies, path ids, query values; the body idle timeout
requestid.py  X-Request-Id on every response
"""
