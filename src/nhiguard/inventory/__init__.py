"""Importers of providers' credential inventories: each reads the file a provider's own tool
exports (or a live API, for AWS) and yields Identities. See `importers.IMPORTERS`."""
