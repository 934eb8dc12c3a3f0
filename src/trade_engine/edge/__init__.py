"""The edge: what every API shares at its boundary: the error table, authentication,
rate limits, and the HTTP and WebSocket plumbing."""
