"""Posture: checks of how non-human identities are set up and used, each tagged with the
OWASP Non-Human Identities Top 10 (2025). `ci_audit` reads CI/CD configuration (GitHub
Actions workflows, GitLab CI files, OIDC trust policies kept in the repository)."""
