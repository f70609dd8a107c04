"""How ci-audit reads a CI script: where each secret it holds goes (log, file, a program)."""

from __future__ import annotations

import re

import pytest

from nhiguard.posture.shell import SUMMARY, exposures

_VAR = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)")


def refs(script: str) -> list[str]:
    return [m.group(1) for m in _VAR.finditer(script) if m.group(1) in ("TOKEN", "PASS")]


CASES = [
    # printed to the log, plainly or encoded (which defeats masking)
    ("echo $TOKEN", [("TOKEN", "print", "")]),
    ('echo "a => ${TOKEN}"', [("TOKEN", "print", "")]),
    ("echo $TOKEN | base64", [("TOKEN", "print", "")]),
    ("echo $TOKEN | rev | tr a-z A-Z", [("TOKEN", "print", "")]),
    ("echo $TOKEN >&2", [("TOKEN", "print", "")]),
    ("printenv TOKEN", [("TOKEN", "print", "")]),
    ("echo \\\n  $TOKEN", [("TOKEN", "print", "")]),
    ("cat <<EOF\n$TOKEN\nEOF", [("TOKEN", "print", "")]),
    ("echo $TOKEN | tee out.txt", [("TOKEN", "print", "out.txt")]),
    ('echo "$TOKEN" >> $GITHUB_STEP_SUMMARY', [("TOKEN", "print", SUMMARY)]),
    # written to a file
    ("echo $TOKEN | base64 -d > key.json", [("TOKEN", "write", "key.json")]),
    ('printf "%s" "$TOKEN" > key.pem && chmod 600 key.pem', [("TOKEN", "write", "key.pem")]),
    ("echo $TOKEN 2>/dev/null > f.txt", [("TOKEN", "write", "f.txt")]),
    ("cat <<EOF > ~/.npmrc\n//r/:_authToken=${TOKEN}\nEOF\necho ok", [("TOKEN", "write", "~/.npmrc")]),
    ('echo "$PASS" > "$HOME/pass file"', [("PASS", "write", "$HOME/pass file")]),
    # handed to a program, kept by the runner, or not a secret's value at all
    ('echo "::add-mask::$TOKEN"', []),
    ('echo "$PASS" | docker login -u me --password-stdin registry.example', []),
    ('echo "$TOKEN" | gh auth login --with-token', []),
    ('echo "token=$TOKEN" >> $GITHUB_OUTPUT', []),
    ('echo "T=$TOKEN" >> "$GITHUB_ENV"', []),
    ("echo $TOKEN > /dev/null", []),
    ("X=$(echo $TOKEN | base64 -d)", []),
    ('curl -H "Authorization: Bearer $TOKEN" https://api.example > out.json', []),
    ("echo done && docker login -p $PASS registry.example", []),
    ("cat <<'EOF' > x\n$TOKEN\nEOF", []),
    ("kubectl apply -f - <<EOF\npassword: $PASS\nEOF", []),
    ("echo ok # $TOKEN", []),
    ('if [ -n "$TOKEN" ]; then echo set; fi', []),
    # the whole environment
    ("env", [("", "environment", "")]),
    ("env | sort", [("", "environment", "")]),
    ("export -p", [("", "environment", "")]),
    ("set -ex", [("", "trace", "")]),
    ("set -o xtrace", [("", "trace", "")]),
    ("env FOO=1 ./run", []),
    ("set -e", []),
]


@pytest.mark.parametrize("script,expected", CASES, ids=[c[0][:40] for c in CASES])
def test_where_a_script_sends_its_secrets(script, expected):
    assert [(e.name, e.how, e.target) for e in exposures(script, refs, True)] == expected


def test_the_line_of_each_exposure_is_kept():
    script = "set -e\nnpm ci\necho $TOKEN\ncat <<EOF > k\n$PASS\nEOF\nprintf %s $PASS\n"
    assert [(e.name, e.line) for e in exposures(script, refs, True)] == [("TOKEN", 2), ("PASS", 3), ("PASS", 6)]


def test_no_secrets_in_the_environment_no_environment_dump():
    assert exposures("env\nset -x", refs, False) == []
