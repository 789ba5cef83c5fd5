"""The plugin contract: the hooks (hookspecs), the types they pass (api), the registry that
finds plugins through entry points (plugins) and the core's settings schema (settings)."""
