"""Pure data types shared by every stage. Imports nothing else from nhiguard."""

from nhiguard.model.blob import Blob, blob_id
from nhiguard.model.finding import Finding, Location, Match
from nhiguard.model.provenance import (
    FileProvenance,
    GitProvenance,
    ImageConfigProvenance,
    ImageProvenance,
    Provenance,
    StdinProvenance,
)
from nhiguard.model.rule import Rule
from nhiguard.model.scan import ScanError, ScanStats
from nhiguard.model.severity import Severity

__all__ = [
    "Blob",
    "blob_id",
    "Finding",
    "Location",
    "Match",
    "FileProvenance",
    "GitProvenance",
    "ImageConfigProvenance",
    "ImageProvenance",
    "Provenance",
    "StdinProvenance",
    "Rule",
    "ScanError",
    "ScanStats",
    "Severity",
]
