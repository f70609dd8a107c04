"""The matching engine: prefilter (Hyperscan or keywords), regex confirm, filters, pipeline."""


def hyperscan_available() -> bool:
    try:
        import hyperscan  # noqa: F401
    except ImportError:
        return False
    return True
