"""Acting on findings: baselines for the CI gate (later: verification, rotation, revocation)."""
