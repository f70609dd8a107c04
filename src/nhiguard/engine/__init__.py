"""The matching engine: prefilter (Hyperscan or keywords), regex confirm, filters, pipeline."""
