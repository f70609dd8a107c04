"""Tiny git repositories built in code with pygit2 (no git binary, no golden files).

    repo = GitRepo.init(tmp_path / "r")
    c1 = repo.commit({"a.txt": "one", "dir/b.txt": "two"}, message="add")
    c2 = repo.commit({"a.txt": None}, message="delete a")   # None deletes a path
    repo.checkout()                                          # work tree + index = HEAD

Commits build trees in the object database directly, so the same calls work on bare
repositories. Author times are fixed and increase by one minute per commit.
"""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy, ObjectType

from nhiguard.model.blob import blob_id

BASE_TIME = 1_700_000_000  # 2023-11-14T22:13:20Z


def blob_hex(content: str | bytes) -> str:
    data = content.encode() if isinstance(content, str) else content
    return blob_id(data)


class GitRepo:
    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo
        self.clock = BASE_TIME

    @classmethod
    def init(cls, path: Path | str, *, bare: bool = False) -> GitRepo:
        return cls(pygit2.init_repository(str(path), bare=bare, initial_head="main"))

    # -- paths ---------------------------------------------------------------------------

    @property
    def git_dir(self) -> Path:
        return Path(self.repo.path)

    @property
    def workdir(self) -> Path:
        assert self.repo.workdir is not None
        return Path(self.repo.workdir)

    # -- history -------------------------------------------------------------------------

    def files_at(self, commit: str | None) -> dict[str, bytes]:
        if commit is None:
            return {}
        out: dict[str, bytes] = {}

        def walk(tree: pygit2.Tree, prefix: str) -> None:
            for entry in tree:
                if entry.type == ObjectType.TREE:
                    walk(self.repo[entry.id], prefix + entry.name + "/")
                else:
                    out[prefix + entry.name] = self.repo[entry.id].data

        walk(self.repo[commit].peel(pygit2.Tree), "")
        return out

    def _tree(self, files: dict[str, bytes]) -> pygit2.Oid:
        nested: dict = {}
        for path, data in files.items():
            node = nested
            *dirs, name = path.split("/")
            for d in dirs:
                node = node.setdefault(d, {})
            node[name] = data

        def build(node: dict) -> pygit2.Oid:
            tb = self.repo.TreeBuilder()
            for name, value in sorted(node.items()):
                if isinstance(value, dict):
                    tb.insert(name, build(value), pygit2.enums.FileMode.TREE)
                else:
                    tb.insert(name, self.repo.create_blob(value), pygit2.enums.FileMode.BLOB)
            return tb.write()

        return build(nested)

    def signature(self, name: str = "Alice", email: str = "alice@example.com") -> pygit2.Signature:
        self.clock += 60
        return pygit2.Signature(name, email, self.clock, 0)

    def commit(
        self,
        changes: dict[str, str | bytes | None],
        *,
        message: str = "change",
        ref: str | None = "refs/heads/main",
        parents: list[str] | None = None,
        author: tuple[str, str] = ("Alice", "alice@example.com"),
    ) -> str:
        """Commit `changes` on top of the first parent (default: `ref`'s current commit)."""
        if parents is None:
            current = self.repo.references.get(ref) if ref else None
            parents = [str(current.target)] if current is not None else []
        files = self.files_at(parents[0] if parents else None)
        for path, content in changes.items():
            if content is None:
                files.pop(path, None)
            else:
                files[path] = content.encode() if isinstance(content, str) else content
        sig = self.signature(*author)
        oid = self.repo.create_commit(
            None, sig, sig, message, self._tree(files), [pygit2.Oid(hex=p) for p in parents]
        )
        if ref:
            self.set_ref(ref, str(oid))
        return str(oid)

    def set_ref(self, name: str, target: str) -> None:
        self.repo.create_reference(name, pygit2.Oid(hex=target), force=True)

    def delete_ref(self, name: str) -> None:
        self.repo.references.delete(name)

    def tag(self, name: str, target: str, *, annotated: bool = False) -> None:
        if annotated:
            obj = self.repo[target]
            self.repo.create_tag(name, obj.id, obj.type, self.signature(), f"tag {name}\n")
        else:
            self.set_ref(f"refs/tags/{name}", target)

    # -- index and work tree -------------------------------------------------------------

    def checkout(self, branch: str = "main") -> None:
        """Point HEAD at `branch` and make the index and work tree match it."""
        self.repo.set_head(f"refs/heads/{branch}")
        self.repo.checkout_head(strategy=CheckoutStrategy.FORCE)

    def write(self, path: str, content: str | bytes) -> Path:
        p = self.workdir / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode() if isinstance(content, str) else content)
        return p

    def stage(self, *paths: str) -> None:
        index = self.repo.index
        for path in paths:
            index.add(path)
        index.write()

    def stash(self, *, include_untracked: bool = False) -> str:
        return str(self.repo.stash(self.signature(), "wip", include_untracked=include_untracked))

    # -- damage --------------------------------------------------------------------------

    def loose_object_path(self, oid: str) -> Path:
        return self.git_dir / "objects" / oid[:2] / oid[2:]

    def corrupt(self, oid: str) -> None:
        """Overwrite a loose object with bytes that do not inflate."""
        path = self.loose_object_path(oid)
        os.chmod(path, 0o644)
        path.write_bytes(b"this is not a zlib stream" * 4)

    def remove_object(self, oid: str) -> None:
        path = self.loose_object_path(oid)
        os.chmod(path, 0o644)
        path.unlink()
