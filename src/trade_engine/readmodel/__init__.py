"""Read models: what committed events become, once per batch, for every API to render."""
