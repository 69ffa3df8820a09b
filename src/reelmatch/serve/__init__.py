"""Serve: the HTTP API and the web page (``reelmatch.serve.app.create_app``)."""
