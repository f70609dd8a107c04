"""Build the demo estate for `make demo` in a temporary folder and print its path.

Every secret value is generated here at run time (random, correctly shaped, never
live). The estate has: a git repository whose history holds a cloud key that was
committed and later deleted, a `.env`, a Kubernetes Secret manifest and a CI log
with a leaked token.
"""

from __future__ import annotations

import base64
import os
import secrets
import string
import subprocess
import sys
import tempfile
from pathlib import Path

B32 = string.ascii_uppercase + "234567"
ALNUM = string.ascii_letters + string.digits


def rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def git(repo: Path, *args: str, when: str) -> None:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="Dana Deploy",
        GIT_AUTHOR_EMAIL="dana@example.com",
        GIT_COMMITTER_NAME="Dana Deploy",
        GIT_COMMITTER_EMAIL="dana@example.com",
        GIT_AUTHOR_DATE=when,
        GIT_COMMITTER_DATE=when,
    )
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def build(root: Path) -> Path:
    repo = root / "payments-service"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main", when="2025-01-02T10:00:00Z")
    (repo / "README.md").write_text("# payments-service\n\nSettles card payments.\n")
    (repo / "app.py").write_text(
        "import os\n\nDB_URL = os.environ['DATABASE_URL']\n\n\ndef handler(event):\n    return {'ok': True}\n"
    )
    git(repo, "add", "-A", when="2025-01-02T10:00:00Z")
    git(repo, "commit", "-q", "-m", "Initial service", when="2025-01-02T10:00:00Z")

    # A cloud key committed by mistake...
    key_id = "AKIA" + rand(B32, 16)
    secret = rand(ALNUM + "+/", 40)
    (repo / "config").mkdir()
    (repo / "config" / "aws.ini").write_text(
        f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\nregion = eu-west-1\n"
    )
    git(repo, "add", "-A", when="2025-02-10T09:30:00Z")
    git(repo, "commit", "-q", "-m", "Add deploy config", when="2025-02-10T09:30:00Z")
    # ...and "removed" in the next commit: it lives on in history.
    (repo / "config" / "aws.ini").unlink()
    git(repo, "add", "-A", when="2025-02-10T11:05:00Z")
    git(repo, "commit", "-q", "-m", "Remove credentials", when="2025-02-10T11:05:00Z")

    # Uncommitted work-tree files: a .env and a Kubernetes Secret manifest.
    db_password = rand(ALNUM, 24)
    (repo / ".env").write_text(
        "APP_ENV=production\n"
        f"DATABASE_URL=postgresql://payments:{db_password}@db.internal:5432/payments\n"
        f"STRIPE_SECRET_KEY=sk_live_{rand(ALNUM, 32)}\n"
        "LOG_LEVEL=info\n"
    )
    (repo / "k8s").mkdir()
    slack = f"https://hooks.slack.com/services/T{rand(B32, 10)}/B{rand(B32, 10)}/{rand(ALNUM, 24)}"
    (repo / "k8s" / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: payments\ntype: Opaque\nstringData:\n"
        f"  SLACK_WEBHOOK_URL: {slack}\n"
        f"  REDIS_PASSWORD: {rand(ALNUM, 28)}\n"
        "data:\n"
        f"  username: {base64.b64encode(b'payments').decode()}\n"
    )

    # A CI log where a token was printed.
    logs = root / "ci-logs"
    logs.mkdir()
    token = "ghp_" + rand(ALNUM, 36)
    (logs / "build-1842.log").write_text(
        "2025-03-01T12:00:01Z ##[group]Run ./deploy.sh\n"
        "2025-03-01T12:00:02Z + echo Deploying payments-service\n"
        f"2025-03-01T12:00:02Z + git clone https://x-access-token:{token}@github.com/acme/payments.git\n"
        "2025-03-01T12:00:05Z ##[endgroup]\n"
    )
    return root


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="nhiguard-demo-"))
    build(root)
    print(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
