"""The hub gateway: a local HTTP/JSON service at an agency, in front of its connector."""
