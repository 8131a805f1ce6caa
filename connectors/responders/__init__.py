"""Agency-side programs that answer the hub on their own: finance's e-invoice responder."""
