"""Pull ingestion: the scheduled read of changed orders from marketplaces that do not push them
(docs/pull.md)."""
